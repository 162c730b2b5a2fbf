//! libFuzzer target `decode`: see `wssniff_fuzz::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::decode(data));
