//! Any bytes into framing and full-message decoding under several session contexts; a decoded
//! message must re-encode and decode again.
#![no_main]

use fabric_bgp_wire::{frame_len_max, AfiSafi, CodecContext, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame_len_max(data, 65535);
    let all = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
    let contexts = [
        CodecContext::default(),
        CodecContext {
            ibgp: true,
            ..CodecContext::four_octet()
        },
        CodecContext {
            four_octet_as: true,
            add_path_rx: all.clone(),
            add_path_tx: all,
            ..CodecContext::default()
        },
    ];
    for ctx in &contexts {
        if let Ok(m) = Message::decode(data, ctx) {
            if let Ok(bytes) = m.encode(ctx) {
                let _ = Message::decode(&bytes, ctx).expect("re-encoded message decodes");
            }
        }
    }
});
