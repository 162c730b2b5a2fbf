//! libFuzzer target `tls_record`: see `wssniff_fuzz::tls_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::tls_record(data));
