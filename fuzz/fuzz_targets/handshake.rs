//! libFuzzer target `handshake`: see `wssniff_fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::handshake(data));
