//! Import and export policies. Pure: a policy looks at one route (prefix, attributes, where it
//! came from) and answers accept or reject, plus attribute changes to make.
//!
//! A [`Policy`] is an ordered list of [`Statement`]s; the first statement whose conditions all
//! match decides, otherwise `default_action` does (reject unless configured). The canned
//! constructors cover what the Calico designs need:
//!
//! * [`Policy::accept_all`] / [`Policy::reject_all`];
//! * [`Policy::originated_only`]: a Calico node exports only its own blocks and never transits
//!   learned routes (calico-designs.md §1.6 (b));
//! * [`Policy::default_only`]: the Downward Default ToR/spine sends only 0/0 downward
//!   (calico-designs.md §1.6 (c));
//! * [`Policy::prefix_list`]: prefix lists with `ge`/`le` length ranges (pool/block filters).
//!
//! In the configuration file (`policies:`, keys in kebab-case):
//!
//! ```yaml
//! pods:
//!   statements:
//!     - conditions: [{prefix-list: [{prefix: 10.64.0.0/16, ge: 26, le: 32}]}, {from-peer-kind: ibgp}]
//!       action: accept
//!       set: [{add-communities: ["65000:7"]}, {local-pref: 200}]
//!     - conditions: [{community-any: ["65000:666"]}]
//!       action: reject
//!     - conditions: [default-route]
//!       action: accept
//!   default-action: reject
//! ```
//!
//! Conditions: `prefix-list`, `default-route`, `originated`, `from-peer-kind` (`ibgp`/`ebgp`),
//! `neighbor-as`, `as-path-contains`, `community-any`, `community-all`, `large-community-any`,
//! `not`. Set actions: `local-pref`, `med`, `clear-med`, `add-communities`,
//! `remove-communities`, `add-large-communities`, `prepend: {asn, count}`.
//!
//! Whether an *unconfigured* policy means accept-all or RFC 8212 reject-all for eBGP is decided
//! by the RIB (`RibConfig::ebgp_requires_policy`), not here.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use fabric_bgp_wire::Asn;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::rib::attrs::{Community, LargeCommunity, PathAttrs};
use crate::rib::peer::PeerKind;

/// Accept or reject.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the route through.
    Accept,
    /// Drop the route.
    #[default]
    Reject,
}

/// One entry of a prefix list: `prefix [ge N] [le M]` (Cisco/FRR semantics).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixListEntry {
    /// Permit (`accept`) or deny (`reject`) on match.
    #[serde(default = "accept")]
    pub action: Action,
    /// The covering prefix.
    pub prefix: IpNet,
    /// Minimum prefix length to match (inclusive).
    #[serde(default)]
    pub ge: Option<u8>,
    /// Maximum prefix length to match (inclusive).
    #[serde(default)]
    pub le: Option<u8>,
}

fn accept() -> Action {
    Action::Accept
}

impl PrefixListEntry {
    /// Permit exactly `prefix`.
    pub fn exact(prefix: IpNet) -> Self {
        PrefixListEntry {
            action: Action::Accept,
            prefix: prefix.trunc(),
            ge: None,
            le: None,
        }
    }

    /// Permit `prefix` and more-specifics with length in `ge..=le` (either bound optional).
    pub fn range(prefix: IpNet, ge: Option<u8>, le: Option<u8>) -> Self {
        PrefixListEntry {
            action: Action::Accept,
            prefix: prefix.trunc(),
            ge,
            le,
        }
    }

    /// Whether `p` matches: inside `prefix`, and of length equal to the prefix's when neither
    /// bound is set, else within `[ge or len(prefix), le or max]`.
    pub fn matches(&self, p: &IpNet) -> bool {
        if !same_family(&self.prefix, p) || !self.prefix.contains(p) {
            return false;
        }
        let len = p.prefix_len();
        match (self.ge, self.le) {
            (None, None) => len == self.prefix.prefix_len(),
            (ge, le) => {
                let lo = ge.unwrap_or(self.prefix.prefix_len());
                let hi = le.unwrap_or(p.max_prefix_len());
                (lo..=hi).contains(&len)
            }
        }
    }
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

/// An ordered prefix list: the first matching entry decides; no match = deny.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrefixList {
    /// Entries in order.
    pub entries: Vec<PrefixListEntry>,
}

impl PrefixList {
    /// A list from entries.
    pub fn new(entries: Vec<PrefixListEntry>) -> Self {
        PrefixList { entries }
    }

    /// Whether the list permits `p`.
    pub fn permits(&self, p: &IpNet) -> bool {
        self.entries
            .iter()
            .find(|e| e.matches(p))
            .is_some_and(|e| e.action == Action::Accept)
    }
}

/// A condition on a route. All conditions of a statement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Condition {
    /// The prefix is permitted by this prefix list.
    PrefixList(PrefixList),
    /// The prefix is a default route (0.0.0.0/0 or ::/0).
    DefaultRoute,
    /// The route was originated by this speaker.
    Originated,
    /// The route was learned from a peer of this kind.
    FromPeerKind(PeerKind),
    /// The route was learned from this neighbour AS (first AS of the path).
    NeighborAs(Asn),
    /// The AS_PATH contains this AS.
    AsPathContains(Asn),
    /// The route carries at least one of these communities.
    CommunityAny(Vec<Community>),
    /// The route carries all of these communities.
    CommunityAll(Vec<Community>),
    /// The route carries at least one of these large communities.
    LargeCommunityAny(Vec<LargeCommunity>),
    /// The inner condition does not hold.
    Not(Box<Condition>),
}

/// A change to apply to an accepted route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SetAction {
    /// Set LOCAL_PREF (meaningful on import and towards iBGP).
    LocalPref(u32),
    /// Set MULTI_EXIT_DISC.
    Med(u32),
    /// Remove MULTI_EXIT_DISC.
    ClearMed,
    /// Add communities (no duplicates).
    AddCommunities(Vec<Community>),
    /// Remove communities.
    RemoveCommunities(Vec<Community>),
    /// Add large communities (no duplicates).
    AddLargeCommunities(Vec<LargeCommunity>),
    /// Prepend an AS `count` times (export only; applied after the eBGP prepend).
    Prepend {
        /// AS to prepend.
        asn: Asn,
        /// How many times.
        count: u8,
    },
}

/// One rule: if every condition holds, apply `set` and take `action`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Conditions, all of which must hold (empty = always).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// What to do on match.
    pub action: Action,
    /// Attribute changes on accept.
    #[serde(default)]
    pub set: Vec<SetAction>,
}

/// An import or export policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// Statements, first match wins.
    #[serde(default)]
    pub statements: Vec<Statement>,
    /// Action when no statement matches.
    #[serde(default)]
    pub default_action: Action,
}

/// Where a route being evaluated came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// Originated by this speaker.
    Local,
    /// Learned from a neighbour.
    Peer {
        /// iBGP or eBGP.
        kind: PeerKind,
        /// Neighbour address.
        address: IpAddr,
    },
}

/// The route a policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext<'a> {
    /// Destination.
    pub prefix: &'a IpNet,
    /// Attributes (as received for import, as in the Loc-RIB for export).
    pub attrs: &'a PathAttrs,
    /// Origin of the route.
    pub source: PolicySource,
}

/// Outcome of a policy evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Accepted by the statement at this index (`None`: by the default action).
    Accept(Option<usize>),
    /// Rejected.
    Reject,
}

impl Condition {
    fn holds(&self, r: &RouteContext<'_>) -> bool {
        match self {
            Condition::PrefixList(list) => list.permits(r.prefix),
            Condition::DefaultRoute => r.prefix.prefix_len() == 0,
            Condition::Originated => r.source == PolicySource::Local,
            Condition::FromPeerKind(k) => {
                matches!(r.source, PolicySource::Peer { kind, .. } if kind == *k)
            }
            Condition::NeighborAs(asn) => r.attrs.as_path.neighbor_as() == Some(*asn),
            Condition::AsPathContains(asn) => r.attrs.as_path.count(*asn) > 0,
            Condition::CommunityAny(cs) => cs.iter().any(|c| r.attrs.communities.contains(c)),
            Condition::CommunityAll(cs) => cs.iter().all(|c| r.attrs.communities.contains(c)),
            Condition::LargeCommunityAny(cs) => {
                cs.iter().any(|c| r.attrs.large_communities.contains(c))
            }
            Condition::Not(inner) => !inner.holds(r),
        }
    }
}

impl Policy {
    /// Accept everything unchanged.
    pub fn accept_all() -> Self {
        Policy {
            statements: Vec::new(),
            default_action: Action::Accept,
        }
    }

    /// Reject everything.
    pub fn reject_all() -> Self {
        Policy::default()
    }

    /// Accept only routes this speaker originated (a Calico node never re-exports learned routes).
    pub fn originated_only() -> Self {
        Policy {
            statements: vec![Statement {
                conditions: vec![Condition::Originated],
                action: Action::Accept,
                set: Vec::new(),
            }],
            default_action: Action::Reject,
        }
    }

    /// Accept only default routes (Downward Default: send only 0/0 down).
    pub fn default_only() -> Self {
        Policy {
            statements: vec![Statement {
                conditions: vec![Condition::DefaultRoute],
                action: Action::Accept,
                set: Vec::new(),
            }],
            default_action: Action::Reject,
        }
    }

    /// Accept exactly what the prefix list permits.
    pub fn prefix_list(list: PrefixList) -> Self {
        Policy {
            statements: vec![Statement {
                conditions: vec![Condition::PrefixList(list)],
                action: Action::Accept,
                set: Vec::new(),
            }],
            default_action: Action::Reject,
        }
    }

    /// Evaluate the policy on a route.
    pub fn evaluate(&self, route: &RouteContext<'_>) -> Verdict {
        for (i, st) in self.statements.iter().enumerate() {
            if st.conditions.iter().all(|c| c.holds(route)) {
                return match st.action {
                    Action::Accept => Verdict::Accept(Some(i)),
                    Action::Reject => Verdict::Reject,
                };
            }
        }
        match self.default_action {
            Action::Accept => Verdict::Accept(None),
            Action::Reject => Verdict::Reject,
        }
    }

    /// The attribute changes of the statement that accepted a route (empty for the default).
    pub fn actions(&self, statement: Option<usize>) -> &[SetAction] {
        statement
            .and_then(|i| self.statements.get(i))
            .map(|s| s.set.as_slice())
            .unwrap_or(&[])
    }
}

/// Named policies, as a configuration's `policies:` section holds them, plus built-ins.
///
/// Built-in names (used when no policy of that name is defined): `accept-all`, `reject-all`,
/// `originated-only`, `default-only`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyBook {
    /// User-defined policies by name.
    pub policies: BTreeMap<String, Policy>,
}

impl PolicyBook {
    /// The built-in policy called `name`.
    pub fn builtin(name: &str) -> Option<Policy> {
        match name {
            "accept-all" => Some(Policy::accept_all()),
            "reject-all" => Some(Policy::reject_all()),
            "originated-only" => Some(Policy::originated_only()),
            "default-only" => Some(Policy::default_only()),
            _ => None,
        }
    }

    /// The policy called `name`: user-defined first, then built-in.
    pub fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.policies
            .get(name)
            .cloned()
            .or_else(|| Self::builtin(name))
            .map(Arc::new)
    }
}

/// Apply attribute changes in order.
pub fn apply_actions(attrs: &mut PathAttrs, actions: &[SetAction]) {
    for a in actions {
        match a {
            SetAction::LocalPref(v) => attrs.local_pref = Some(*v),
            SetAction::Med(v) => attrs.med = Some(*v),
            SetAction::ClearMed => attrs.med = None,
            SetAction::AddCommunities(cs) => {
                for c in cs {
                    if !attrs.communities.contains(c) {
                        attrs.communities.push(*c);
                    }
                }
            }
            SetAction::RemoveCommunities(cs) => attrs.communities.retain(|c| !cs.contains(c)),
            SetAction::AddLargeCommunities(cs) => {
                for c in cs {
                    if !attrs.large_communities.contains(c) {
                        attrs.large_communities.push(*c);
                    }
                }
            }
            SetAction::Prepend { asn, count } => attrs.as_path.prepend(*asn, usize::from(*count)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::attrs::AsPath;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ctx<'a>(prefix: &'a IpNet, attrs: &'a PathAttrs, source: PolicySource) -> RouteContext<'a> {
        RouteContext {
            prefix,
            attrs,
            source,
        }
    }

    const EBGP: PolicySource = PolicySource::Peer {
        kind: PeerKind::Ebgp,
        address: IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    };

    #[test]
    fn prefix_list_exact_ge_le() {
        let exact = PrefixListEntry::exact(net("10.0.0.0/8"));
        assert!(exact.matches(&net("10.0.0.0/8")));
        assert!(!exact.matches(&net("10.1.0.0/16")));

        let le = PrefixListEntry::range(net("192.168.0.0/16"), None, Some(26));
        assert!(le.matches(&net("192.168.0.0/16")));
        assert!(le.matches(&net("192.168.3.64/26")));
        assert!(!le.matches(&net("192.168.3.65/32")));
        assert!(!le.matches(&net("192.169.0.0/26")));

        let ge = PrefixListEntry::range(net("192.168.0.0/16"), Some(32), None);
        assert!(ge.matches(&net("192.168.3.65/32")));
        assert!(!ge.matches(&net("192.168.3.64/26")));

        let both = PrefixListEntry::range(net("192.168.0.0/16"), Some(24), Some(26));
        assert!(!both.matches(&net("192.168.0.0/23")));
        assert!(both.matches(&net("192.168.1.0/24")));
        assert!(both.matches(&net("192.168.1.192/26")));
        assert!(!both.matches(&net("192.168.1.192/27")));

        // An IPv4 entry never matches an IPv6 prefix, even ::/0 against 0.0.0.0/0.
        let any4 = PrefixListEntry::range(net("0.0.0.0/0"), None, Some(32));
        assert!(!any4.matches(&net("::/0")));
    }

    #[test]
    fn prefix_list_first_match_and_implicit_deny() {
        let list = PrefixList::new(vec![
            PrefixListEntry {
                action: Action::Reject,
                prefix: net("10.1.0.0/16"),
                ge: None,
                le: Some(32),
            },
            PrefixListEntry::range(net("10.0.0.0/8"), None, Some(32)),
        ]);
        assert!(list.permits(&net("10.2.0.0/16")));
        assert!(!list.permits(&net("10.1.2.0/24")));
        assert!(!list.permits(&net("11.0.0.0/8")));
    }

    #[test]
    fn originated_only_and_default_only() {
        let attrs = PathAttrs::local();
        let p = net("192.168.0.0/26");
        let d = net("0.0.0.0/0");
        let orig = Policy::originated_only();
        assert_eq!(
            orig.evaluate(&ctx(&p, &attrs, PolicySource::Local)),
            Verdict::Accept(Some(0))
        );
        assert_eq!(orig.evaluate(&ctx(&p, &attrs, EBGP)), Verdict::Reject);

        let def = Policy::default_only();
        assert_eq!(def.evaluate(&ctx(&p, &attrs, EBGP)), Verdict::Reject);
        assert_eq!(
            def.evaluate(&ctx(&d, &attrs, EBGP)),
            Verdict::Accept(Some(0))
        );
        let d6 = net("::/0");
        assert_eq!(
            def.evaluate(&ctx(&d6, &attrs, EBGP)),
            Verdict::Accept(Some(0))
        );
    }

    #[test]
    fn community_match_and_set() {
        let tag = Community::new(65000, 1);
        let policy = Policy {
            statements: vec![
                Statement {
                    conditions: vec![Condition::CommunityAny(vec![tag])],
                    action: Action::Accept,
                    set: vec![
                        SetAction::LocalPref(200),
                        SetAction::AddCommunities(vec![tag]),
                    ],
                },
                Statement {
                    conditions: vec![Condition::Not(Box::new(Condition::FromPeerKind(
                        PeerKind::Ebgp,
                    )))],
                    action: Action::Accept,
                    set: vec![],
                },
            ],
            default_action: Action::Reject,
        };
        let p = net("10.0.0.0/24");
        let mut tagged =
            PathAttrs::learned(AsPath::sequence([Asn(1)]), "10.0.0.1".parse().unwrap());
        tagged.communities.push(tag);
        let plain = PathAttrs::learned(AsPath::sequence([Asn(1)]), "10.0.0.1".parse().unwrap());

        let v = policy.evaluate(&ctx(&p, &tagged, EBGP));
        assert_eq!(v, Verdict::Accept(Some(0)));
        let Verdict::Accept(st) = v else {
            unreachable!()
        };
        let mut out = tagged.clone();
        apply_actions(&mut out, policy.actions(st));
        assert_eq!(out.local_pref, Some(200));
        assert_eq!(out.communities, vec![tag], "no duplicate community");

        assert_eq!(policy.evaluate(&ctx(&p, &plain, EBGP)), Verdict::Reject);
        assert_eq!(
            policy.evaluate(&ctx(&p, &plain, PolicySource::Local)),
            Verdict::Accept(Some(1))
        );
    }

    #[test]
    fn policy_book_prefers_user_definitions() {
        let mut book = PolicyBook::default();
        assert_eq!(
            book.get("default-only").as_deref(),
            Some(&Policy::default_only())
        );
        assert!(book.get("nope").is_none());
        book.policies
            .insert("default-only".into(), Policy::reject_all());
        assert_eq!(
            book.get("default-only").as_deref(),
            Some(&Policy::reject_all())
        );
    }

    #[test]
    fn policy_deserializes_from_yaml_like_json() {
        let json = r#"{
            "statements": [
                {"conditions": [{"prefix-list": [{"prefix": "192.168.0.0/16", "le": 26}]}],
                 "action": "accept", "set": [{"add-communities": ["65000:7"]}]}
            ]
        }"#;
        let p: Policy = serde_json::from_str(json).unwrap();
        assert_eq!(p.default_action, Action::Reject);
        let attrs = PathAttrs::local();
        assert!(matches!(
            p.evaluate(&ctx(&net("192.168.1.0/26"), &attrs, PolicySource::Local)),
            Verdict::Accept(Some(0))
        ));
        assert_eq!(
            p.evaluate(&ctx(&net("192.168.1.0/27"), &attrs, PolicySource::Local)),
            Verdict::Reject
        );
    }
}
