//! libFuzzer target `engineio`: see `wssniff_fuzz::engineio`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::engineio(data));
