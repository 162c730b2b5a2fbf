//! libFuzzer target `hpack`: see `wssniff_fuzz::hpack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::hpack(data));
