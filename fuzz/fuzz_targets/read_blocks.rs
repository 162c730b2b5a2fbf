//! libFuzzer target `read_blocks`: see `wssniff_fuzz::blocks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::read_blocks(data));
