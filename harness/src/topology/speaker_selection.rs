//! Which BGP implementation runs where: `bird`, or `node=bird,tor=frr,spine=bundled`, or both
//! (`frr,node=bird`: FRR everywhere but BIRD on the nodes). Parsed from `fabriclab run
//! --speakers`, and the same shape holds the file's `speaker:` / `speakers:` keys.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::plan::{Role, SpeakerKind};

/// A default speaker plus per-role choices; the role choice wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeakerSelection {
    /// For every role without its own entry.
    pub default: Option<SpeakerKind>,
    pub per_role: BTreeMap<Role, SpeakerKind>,
}

impl SpeakerSelection {
    /// The same speaker for every role.
    pub fn all(kind: SpeakerKind) -> Self {
        SpeakerSelection {
            default: Some(kind),
            per_role: BTreeMap::new(),
        }
    }

    /// The speaker this selection picks for `role`, if it says anything about it.
    pub fn pick(&self, role: Role) -> Option<SpeakerKind> {
        self.per_role.get(&role).copied().or(self.default)
    }
}

/// Why a speaker selection string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeakerSelectionError {
    #[error("empty speaker selection (expected e.g. `bird` or `node=bird,tor=frr`)")]
    Empty,
    #[error("unknown speaker `{0}` (expected bundled, bird, frr or gobgp)")]
    UnknownSpeaker(String),
    #[error("unknown role `{0}` (expected spine, tor, node, rr or external)")]
    UnknownRole(String),
    #[error("role `{0}` is given twice")]
    DuplicateRole(String),
    #[error("more than one default speaker (`{0}` and `{1}`)")]
    DuplicateDefault(String, String),
}

/// Parse a speaker name (`bundled`, `bird`, `frr`, `gobgp`).
pub fn parse_speaker_kind(s: &str) -> Result<SpeakerKind, SpeakerSelectionError> {
    match s.trim() {
        "bundled" | "fabric-speaker" => Ok(SpeakerKind::Bundled),
        "bird" => Ok(SpeakerKind::Bird),
        "frr" => Ok(SpeakerKind::Frr),
        "gobgp" => Ok(SpeakerKind::Gobgp),
        other => Err(SpeakerSelectionError::UnknownSpeaker(other.to_string())),
    }
}

/// Parse a role name as the CLI writes it.
pub fn parse_role(s: &str) -> Option<Role> {
    match s.trim() {
        "spine" | "spines" => Some(Role::Spine),
        "tor" | "tors" => Some(Role::Tor),
        "node" | "nodes" => Some(Role::Node),
        "rr" | "route-reflector" | "route-reflectors" => Some(Role::RouteReflector),
        "external" | "externals" => Some(Role::External),
        _ => None,
    }
}

impl FromStr for SpeakerSelection {
    type Err = SpeakerSelectionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut sel = SpeakerSelection::default();
        let mut default_text: Option<String> = None;
        let mut any = false;
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            any = true;
            match item.split_once('=') {
                None => {
                    let kind = parse_speaker_kind(item)?;
                    if let Some(prev) = &default_text {
                        return Err(SpeakerSelectionError::DuplicateDefault(
                            prev.clone(),
                            item.to_string(),
                        ));
                    }
                    default_text = Some(item.to_string());
                    sel.default = Some(kind);
                }
                Some((role, kind)) => {
                    let r = parse_role(role)
                        .ok_or_else(|| SpeakerSelectionError::UnknownRole(role.trim().into()))?;
                    let kind = parse_speaker_kind(kind)?;
                    if sel.per_role.insert(r, kind).is_some() {
                        return Err(SpeakerSelectionError::DuplicateRole(role.trim().into()));
                    }
                }
            }
        }
        if !any {
            return Err(SpeakerSelectionError::Empty);
        }
        Ok(sel)
    }
}

impl fmt::Display for SpeakerSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(d) = self.default {
            parts.push(d.to_string());
        }
        for (role, kind) in &self.per_role {
            let role = match role {
                Role::RouteReflector => "rr".to_string(),
                other => other.to_string(),
            };
            parts.push(format!("{role}={kind}"));
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_speaker_is_the_default_for_every_role() {
        let sel: SpeakerSelection = "bird".parse().unwrap();
        assert_eq!(sel.pick(Role::Tor), Some(SpeakerKind::Bird));
        assert_eq!(sel.pick(Role::Spine), Some(SpeakerKind::Bird));
    }

    #[test]
    fn per_role_entries_win_over_the_default() {
        let sel: SpeakerSelection = "frr, node=bird,tor=gobgp,spine=bundled".parse().unwrap();
        assert_eq!(sel.pick(Role::Node), Some(SpeakerKind::Bird));
        assert_eq!(sel.pick(Role::Tor), Some(SpeakerKind::Gobgp));
        assert_eq!(sel.pick(Role::Spine), Some(SpeakerKind::Bundled));
        assert_eq!(sel.pick(Role::External), Some(SpeakerKind::Frr));
        let round: SpeakerSelection = sel.to_string().parse().unwrap();
        assert_eq!(round, sel);
    }

    #[test]
    fn roles_without_a_choice_pick_nothing() {
        let sel: SpeakerSelection = "node=bird".parse().unwrap();
        assert_eq!(sel.pick(Role::Tor), None);
    }

    #[test]
    fn bad_strings_are_rejected_with_the_offending_part() {
        let cases = [
            ("", SpeakerSelectionError::Empty),
            (" , ", SpeakerSelectionError::Empty),
            (
                "quagga",
                SpeakerSelectionError::UnknownSpeaker("quagga".into()),
            ),
            (
                "leaf=bird",
                SpeakerSelectionError::UnknownRole("leaf".into()),
            ),
            (
                "node=bird,node=frr",
                SpeakerSelectionError::DuplicateRole("node".into()),
            ),
            (
                "bird,frr",
                SpeakerSelectionError::DuplicateDefault("bird".into(), "frr".into()),
            ),
            ("node=", SpeakerSelectionError::UnknownSpeaker("".into())),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<SpeakerSelection>(), Err(want), "{text:?}");
        }
    }
}
