//! libFuzzer target `http`: see `wssniff_fuzz::http`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::http(data));
