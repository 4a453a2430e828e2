#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailtap_fuzz::smtp_parse(data));
