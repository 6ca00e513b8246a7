#![no_main]
use busbar_protocols::fuzzing;
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::sse(data));
