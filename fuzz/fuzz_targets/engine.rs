//! libFuzzer target `engine`: see `wssniff_fuzz::engine`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::engine(data));
