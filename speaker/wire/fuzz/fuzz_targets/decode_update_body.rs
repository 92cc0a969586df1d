//! Any bytes as an UPDATE body: decoding and the treat-as-withdraw conversion never panic.
#![no_main]

use fabric_bgp_wire::{CodecContext, Update};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for ctx in [CodecContext::default(), CodecContext::four_octet()] {
        if let Ok(d) = Update::decode(data, &ctx) {
            let _ = d.into_effective();
        }
    }
});
