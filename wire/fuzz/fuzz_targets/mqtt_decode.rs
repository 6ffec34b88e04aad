#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wire::fuzzing::mqtt_decode(data));
