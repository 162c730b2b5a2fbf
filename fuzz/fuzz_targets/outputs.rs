//! libFuzzer target `outputs`: see `wssniff_fuzz::outputs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::outputs(data));
