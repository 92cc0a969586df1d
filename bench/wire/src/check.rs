//! One-time content check before any timing: both decoders must read the same bytes into the
//! same routes, and both encoders must write the same bytes back, or the comparison is
//! meaningless (a decoder that skips work looks fast).

use anyhow::{bail, ensure, Context, Result};
use fabric_bgp_wire::{CodecContext, Message};
use ipnet::Ipv4Net;
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::path_attribute::{AsPath as NgAsPath, PathAttributeValue};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use netgauze_parse_utils::WritablePdu;

use crate::fixtures::Case;

/// Decodes `bytes` with netgauze the way the benchmark loop does.
pub fn netgauze_decode(
    bytes: &[u8],
    ctx: &mut BgpParsingContext,
) -> Result<BgpMessage, netgauze_bgp_pkt::wire::deserializer::BgpMessageParsingError> {
    let mut reader = SliceReader::new(bytes);
    BgpMessage::parse(&mut reader, ctx)
}

/// What the check established about one case.
pub struct Checked {
    /// The message as netgauze decoded it (what its encoder is timed on).
    pub netgauze_message: BgpMessage,
    /// Prefixes each decoder found (equal, or the check failed).
    pub prefixes: usize,
}

/// Verifies that both codecs agree on `case`; returns netgauze's decoded message.
pub fn check_case(
    case: &Case,
    ctx: &CodecContext,
    ng_ctx: &mut BgpParsingContext,
) -> Result<Checked> {
    let name = case.name;
    // fabric-bgp-wire: typed round trip, and bytes round trip.
    let ours = Message::decode(&case.bytes, ctx)
        .map_err(|e| anyhow::anyhow!("fabric-bgp-wire cannot decode {name}: {e:?}"))?;
    ensure!(
        ours == case.message,
        "{name}: fabric-bgp-wire decoded something else"
    );
    let again = ours
        .encode(ctx)
        .context("re-encoding with fabric-bgp-wire")?;
    ensure!(
        again == case.bytes,
        "{name}: fabric-bgp-wire re-encodes differently"
    );

    // netgauze: same bytes, equivalent context (4-octet AS, no ADD-PATH).
    let theirs = netgauze_decode(&case.bytes, ng_ctx)
        .map_err(|e| anyhow::anyhow!("netgauze cannot decode {name}: {e}"))?;
    let prefixes = match (&ours, &theirs) {
        (Message::Update(u), BgpMessage::Update(n)) => {
            let ours_nlri: Vec<Ipv4Net> = u.nlri.iter().map(|p| p.prefix).collect();
            let theirs_nlri: Vec<Ipv4Net> =
                n.nlri().iter().map(|p| p.network().address()).collect();
            ensure!(
                ours_nlri == theirs_nlri,
                "{name}: NLRI differ ({} vs {} prefixes)",
                ours_nlri.len(),
                theirs_nlri.len()
            );
            ensure!(
                u.withdrawn.len() == n.withdraw_routes().len(),
                "{name}: withdrawn differ"
            );
            check_attributes(name, u, n.path_attributes())?;
            ours_nlri.len()
        }
        (Message::Keepalive, BgpMessage::KeepAlive) => 0,
        (Message::Open(o), BgpMessage::Open(n)) => {
            ensure!(
                o.effective_asn().0 == n.my_asn4(),
                "{name}: AS differs ({} vs {})",
                o.effective_asn().0,
                n.my_asn4()
            );
            ensure!(o.hold_time == n.hold_time(), "{name}: hold time differs");
            ensure!(o.router_id.0 == n.bgp_id(), "{name}: BGP id differs");
            let caps = n.capabilities();
            ensure!(
                caps.len() == o.capabilities.len(),
                "{name}: {} vs {} capabilities",
                o.capabilities.len(),
                caps.len()
            );
            // Every capability must have been understood, not kept as opaque bytes.
            ensure!(
                !caps
                    .iter()
                    .any(|c| matches!(c, BgpCapability::Unrecognized(_))),
                "{name}: netgauze left a capability unrecognised: {caps:?}"
            );
            0
        }
        _ => bail!("{name}: decoded to different message types: {theirs:?}"),
    };
    ensure!(
        prefixes == case.prefixes,
        "{name}: {prefixes} prefixes decoded, {} built",
        case.prefixes
    );

    // netgauze's encoder must produce the very same bytes, so encode timings compare equal work.
    let mut out = Vec::with_capacity(case.bytes.len());
    theirs
        .write(&mut out)
        .map_err(|e| anyhow::anyhow!("netgauze cannot encode {name}: {e:?}"))?;
    ensure!(
        out == case.bytes,
        "{name}: netgauze re-encodes differently ({} vs {} octets)",
        out.len(),
        case.bytes.len()
    );
    Ok(Checked {
        netgauze_message: theirs,
        prefixes,
    })
}

/// The attributes of the benchmark UPDATEs must decode to the same values on both sides.
fn check_attributes(
    name: &str,
    u: &fabric_bgp_wire::Update,
    attrs: &[netgauze_bgp_pkt::path_attribute::PathAttribute],
) -> Result<()> {
    let a = &u.attributes;
    let mut seen = 0usize;
    for attr in attrs {
        match attr.value() {
            PathAttributeValue::Origin(o) => {
                ensure!(
                    a.origin.map(|x| x.code()) == Some(*o as u8),
                    "{name}: ORIGIN differs"
                );
            }
            PathAttributeValue::AsPath(NgAsPath::As4PathSegments(segs)) => {
                let theirs: Vec<u32> = segs
                    .iter()
                    .flat_map(|s| s.as_numbers().iter().copied())
                    .collect();
                let ours: Vec<u32> = a
                    .as_path
                    .iter()
                    .flat_map(|p| p.segments.iter())
                    .flat_map(|s| s.asns.iter().map(|x| x.0))
                    .collect();
                ensure!(
                    ours == theirs,
                    "{name}: AS_PATH differs: {ours:?} vs {theirs:?}"
                );
            }
            PathAttributeValue::AsPath(other) => {
                bail!("{name}: netgauze read a 2-octet AS_PATH: {other:?}")
            }
            PathAttributeValue::NextHop(nh) => {
                ensure!(
                    a.next_hop == Some(nh.next_hop()),
                    "{name}: NEXT_HOP differs"
                );
            }
            PathAttributeValue::MultiExitDiscriminator(m) => {
                ensure!(a.med == Some(m.metric()), "{name}: MED differs");
            }
            PathAttributeValue::Communities(c) => {
                let theirs: Vec<u32> = c.communities().iter().map(|x| x.value()).collect();
                let ours: Vec<u32> = a.communities.iter().map(|x| x.0).collect();
                ensure!(ours == theirs, "{name}: COMMUNITIES differ");
            }
            other => bail!("{name}: unexpected attribute {other:?}"),
        }
        seen += 1;
    }
    ensure!(
        seen == 5,
        "{name}: netgauze saw {seen} attributes, 5 were sent"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::cases;

    #[test]
    fn every_case_agrees() -> Result<()> {
        let ctx = CodecContext::four_octet();
        for case in cases(&ctx)? {
            let chk = check_case(&case, &ctx, &mut BgpParsingContext::default())?;
            assert_eq!(chk.prefixes, case.prefixes, "{}", case.name);
        }
        Ok(())
    }

    #[test]
    fn a_mismatch_is_reported() -> Result<()> {
        let ctx = CodecContext::four_octet();
        let mut all = cases(&ctx)?;
        let mut case = all.remove(0);
        // Claim one prefix more than the bytes carry.
        case.prefixes += 1;
        assert!(check_case(&case, &ctx, &mut BgpParsingContext::default()).is_err());
        // netgauze with 2-octet AS reads the 4-octet AS_PATH differently (or fails).
        case.prefixes -= 1;
        let mut asn2 = BgpParsingContext::asn2_default();
        assert!(check_case(&case, &ctx, &mut asn2).is_err());
        Ok(())
    }
}
