//! libFuzzer target `tls`: see `wssniff_fuzz::tls`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::tls(data));
