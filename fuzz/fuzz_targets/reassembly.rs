//! libFuzzer target `reassembly`: see `wssniff_fuzz::reassembly`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::reassembly(data));
