//! libFuzzer target `capture`: see `wssniff_fuzz::capture`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::capture(data));
