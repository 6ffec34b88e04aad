#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wire::fuzzing::ws_handshake(data));
