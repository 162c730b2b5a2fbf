//! libFuzzer target `h2frame`: see `wssniff_fuzz::h2frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::h2frame(data));
