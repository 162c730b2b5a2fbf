//! libFuzzer target `keylog`: see `wssniff_fuzz::keylog`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::keylog(data));
