//! Arbitrary bytes through the API's conversions and validation:
//! `cargo fuzz run door` (see docs/RELIABILITY.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    reserve_dispatch::grpc::door::check_bytes(data);
});
