#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailtap_fuzz::decode_frame(data));
