//! libFuzzer target `wsframe`: see `wssniff_fuzz::wsframe`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::wsframe(data));
