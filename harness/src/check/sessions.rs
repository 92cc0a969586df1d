//! Wire-level session checks from the captures, independent of the speaker under test: every
//! session of the plan opened with the 4-octet AS capability (RFC 6793) and IPv4 unicast (RFC
//! 4760) from both sides, each side sent End-of-RIB for IPv4 unicast after its initial table
//! (RFC 4724 §2) on its last connection, and nobody sent a malformed message. UPDATE counts
//! (churn) and NOTIFICATIONs other than the Cease of the run's own shutdown are reported in the
//! summary: a session that was reset during start-up and came back (FRR answers an early OPEN
//! with 5/0 now and then) is a fact worth showing, not a design failure.

use std::net::IpAddr;

use fabric_bgp_wire::AfiSafi;

use super::result::CheckResult;
use crate::capture::{SessionWireReport, SpeakerWire};
use crate::topology::Plan;

/// Cease (RFC 4486): the only NOTIFICATION a clean run shows, at its end.
const CEASE: u8 = 6;

fn side_problems(who: &str, w: &SpeakerWire, out: &mut Vec<String>, notes: &mut Vec<String>) {
    let Some(open) = w.last_open() else {
        out.push(format!("{who} sent no OPEN"));
        return;
    };
    if open.four_octet_as.is_none() {
        out.push(format!("{who}: OPEN without the 4-octet AS capability"));
    }
    if !(open.families.is_empty() || open.families.contains(&AfiSafi::IPV4_UNICAST)) {
        out.push(format!("{who}: OPEN does not offer IPv4 unicast"));
    }
    if !w.sent_eor(open.conn, AfiSafi::IPV4_UNICAST) {
        out.push(format!(
            "{who}: no End-of-RIB for ipv4-unicast after its initial table"
        ));
    }
    for n in w.notifications.iter().filter(|n| n.code != CEASE) {
        notes.push(format!("{who}: sent NOTIFICATION {}", n.name));
    }
    for e in &w.errors {
        out.push(format!("{who}: sent a malformed message: {}", e.what));
    }
}

/// Checks every session of `plan` against what the captures show.
pub fn sessions_wire_check(plan: &Plan, reports: &[SessionWireReport]) -> CheckResult {
    let mut details = Vec::new();
    let mut notes = Vec::new();
    let mut updates = 0u64;
    let mut seen = 0usize;
    for s in &plan.sessions {
        let (a, b) = (s.a.local_addr, s.b.local_addr);
        // A session's segments can show up on other links too (after its link went down, a
        // ToR's last segments to the node follow the default route up to a spine): prefer the
        // session's own link, then any capture that saw its OPENs.
        let matching: Vec<&SessionWireReport> = reports
            .iter()
            .filter(|r| {
                let addrs = [r.a.addr, r.b.addr];
                addrs.contains(&Some(a)) && addrs.contains(&Some(b))
            })
            .collect();
        let report = matching
            .iter()
            .find(|r| r.link == s.link)
            .or_else(|| {
                matching
                    .iter()
                    .find(|r| !r.a.opens.is_empty() || !r.b.opens.is_empty())
            })
            .or_else(|| matching.first())
            .copied();
        let Some(r) = report else {
            details.push(format!(
                "session {} ({a}) - {} ({b}): no BGP traffic captured",
                s.a.node, s.b.node
            ));
            continue;
        };
        seen += 1;
        for (side, addr) in [(&s.a, a), (&s.b, b)] {
            if let Some(w) = r.speaker(addr) {
                updates += w.updates;
                let who = format!("{} ({addr}) to {}", side.node, peer_of(s, addr));
                side_problems(&who, w, &mut details, &mut notes);
            }
        }
    }
    let notified = if notes.is_empty() {
        "no NOTIFICATION before the shutdown".to_string()
    } else {
        format!(
            "{} NOTIFICATIONs before the shutdown ({})",
            notes.len(),
            notes.join("; ")
        )
    };
    CheckResult::from_details(
        "sessions-wire",
        format!(
            "{seen}/{} sessions: OPEN with 4-octet AS and IPv4 unicast both ways, End-of-RIB, \
             {updates} UPDATEs in all, {notified}",
            plan.sessions.len()
        ),
        details,
    )
}

fn peer_of(s: &crate::topology::SessionPlan, addr: IpAddr) -> &str {
    if s.a.local_addr == addr {
        s.b.node.as_str()
    } else {
        s.a.node.as_str()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fabric_bgp_wire::{Asn, RouterId};

    use super::*;
    use crate::capture::checks::{EorSeen, NotificationSeen, OpenSeen};
    use crate::topology::{parse, LinkId};

    fn open(asn: u32) -> OpenSeen {
        OpenSeen {
            conn: 0,
            ts: Duration::from_secs(1),
            asn: Asn(asn),
            my_as: 23456,
            hold_time: 9,
            router_id: RouterId("10.255.0.1".parse().expect("ip")),
            four_octet_as: Some(Asn(asn)),
            families: vec![AfiSafi::IPV4_UNICAST],
            graceful_restart: None,
            route_refresh: true,
            enhanced_route_refresh: false,
            extended_message: false,
            add_path: Vec::new(),
            long_lived_gr: false,
            capability_codes: vec![1, 2, 65],
        }
    }

    fn clean_side(addr: IpAddr, asn: u32) -> SpeakerWire {
        SpeakerWire {
            addr: Some(addr),
            opens: vec![open(asn)],
            updates: 2,
            end_of_rib: vec![EorSeen {
                conn: 0,
                ts: Duration::from_secs(2),
                afi_safi: AfiSafi::IPV4_UNICAST,
                updates_before: 2,
            }],
            ..SpeakerWire::default()
        }
    }

    fn reports(plan: &Plan) -> Vec<SessionWireReport> {
        plan.sessions
            .iter()
            .map(|s| SessionWireReport {
                link: LinkId(s.link.0),
                a: clean_side(s.a.local_addr, s.a.local_as.0),
                b: clean_side(s.b.local_addr, s.b.local_as.0),
                connections: 1,
                stream_problems: Vec::new(),
                first_ts: Duration::from_secs(1),
                last_ts: Duration::from_secs(3),
            })
            .collect()
    }

    #[test]
    fn clean_sessions_pass_and_each_fault_is_named() {
        let plan = parse(
            "design: as-per-server\nspines: 1\nracks:\n  - { nodes: 1 }\npods-per-node: 0\n",
            "t.yaml",
        )
        .expect("plan");
        let mut r = reports(&plan);
        assert!(sessions_wire_check(&plan, &r).passed());

        r[0].a.end_of_rib.clear();
        r[0].b.opens[0].four_octet_as = None;
        r[0].b.notifications.push(NotificationSeen {
            conn: 0,
            ts: Duration::from_secs(2),
            code: 3,
            subcode: 1,
            name: "3/1".into(),
            text: None,
        });
        r.pop();
        let c = sessions_wire_check(&plan, &r);
        assert!(c.failed());
        let all = c.details.join("\n");
        assert!(all.contains("no End-of-RIB"), "{all}");
        assert!(all.contains("without the 4-octet AS capability"), "{all}");
        assert!(c.summary.contains("sent NOTIFICATION 3/1"), "{}", c.summary);
        assert!(all.contains("no BGP traffic captured"), "{all}");
    }
}
