#![no_main]
use busbar_protocols::{fuzzing, Protocol};
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::stream(Protocol::BedrockInvoke, data));
