//! Topology errors. Every problem in a file names the file, the line and column, and the field
//! path (`racks[1].nodes`), whether YAML, the schema or a later semantic check found it.

use std::fmt;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde_saphyr::{Location, Spanned};

/// Why a topology could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("failed to read topology file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid topology.
    #[error("{0}")]
    Invalid(Box<InvalidTopology>),
}

impl TopologyError {
    /// The located problem, unless the file could not be read at all.
    pub fn invalid(&self) -> Option<&InvalidTopology> {
        match self {
            TopologyError::Invalid(i) => Some(i),
            TopologyError::Read { .. } => None,
        }
    }
}

/// A problem at one place of a topology file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: in `{field}`: {kind}")]
pub struct InvalidTopology {
    /// The source name given to [`super::parse`] (the path for [`super::load`]).
    pub file: String,
    /// 1-based line; 0 when the place is unknown.
    pub line: u64,
    /// 1-based column; 0 when unknown.
    pub column: u64,
    /// Field path such as `racks[1].nodes`, `overrides.r1n2.asn` or `(root)`.
    pub field: String,
    pub kind: ErrorKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The text is not YAML, or a value has the wrong type.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("unknown key `{key}` (expected one of: {expected})")]
    UnknownKey { key: String, expected: String },
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
    #[error("unknown value `{value}` (expected one of: {expected})")]
    UnknownValue { value: String, expected: String },
    #[error("unknown design `{0}` (expected as-per-rack, as-per-server or downward-default)")]
    UnknownDesign(String),
    #[error("duplicate node name `{0}`")]
    DuplicateNode(String),
    #[error("unknown node `{0}`")]
    UnknownNode(String),
    #[error("invalid name `{name}`: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("interface name `{0}` is longer than 15 bytes (IFNAMSIZ)")]
    IfnameTooLong(String),
    #[error("pools {a} and {b} overlap")]
    OverlappingPools { a: Ipv4Net, b: Ipv4Net },
    #[error("address ranges overlap: {0}")]
    OverlappingRanges(String),
    #[error("pool exhausted: {0}")]
    PoolExhausted(String),
    #[error("address range exhausted: {0}")]
    RangeExhausted(String),
    #[error("ASN {asn} out of range: {reason}")]
    AsnOutOfRange { asn: u64, reason: &'static str },
    #[error("ASN {asn} of {this} is also used by {other}, which the design keeps in another AS")]
    AsnCollision {
        asn: u32,
        this: String,
        other: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A place in the file: line/column from the YAML parser plus the field path we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
    pub field: String,
}

impl Pos {
    pub(crate) fn new(loc: &Location, field: impl Into<String>) -> Pos {
        Pos {
            line: loc.line(),
            column: loc.column(),
            field: field.into(),
        }
    }

    /// The place of a spanned value.
    pub(crate) fn of<T>(s: &Spanned<T>, field: impl Into<String>) -> Pos {
        Pos::new(&s.referenced, field)
    }

    /// The start of the document, for problems with defaults nobody wrote down.
    pub(crate) fn root(field: impl Into<String>) -> Pos {
        Pos {
            line: 1,
            column: 1,
            field: field.into(),
        }
    }

    /// A problem at this place.
    pub(crate) fn err(&self, kind: ErrorKind) -> Problem {
        Problem {
            pos: self.clone(),
            kind,
        }
    }
}

/// An [`InvalidTopology`] before the file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub pos: Pos,
    pub kind: ErrorKind,
}

impl Problem {
    pub(crate) fn in_file(self, file: &str) -> TopologyError {
        TopologyError::Invalid(Box::new(InvalidTopology {
            file: file.to_string(),
            line: self.pos.line,
            column: self.pos.column,
            field: if self.pos.field.is_empty() {
                "(root)".to_string()
            } else {
                self.pos.field
            },
            kind: self.kind,
        }))
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", self.line, self.column, self.field)
    }
}

/// Render a serde_path_to_error path the way our messages write fields: `racks[1].nodes`.
/// `value` segments are the inside of `Spanned<T>` and `?` segments carry no name: both dropped.
pub(crate) fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key == "value" {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn join_field(path: &str, key: &str) -> String {
    // Some errors arrive with the key already tracked as the last path segment.
    if path == key || path.ends_with(&format!(".{key}")) {
        path.to_string()
    } else if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Map a serde-saphyr error plus the path serde_path_to_error tracked to a [`Problem`].
pub(crate) fn from_yaml(err: &serde_saphyr::Error, path: String) -> Problem {
    let loc = err.location();
    let (line, column) = loc.map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    let inner = err.without_snippet();
    let (field, kind) = match inner {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => (
            join_field(&path, field),
            ErrorKind::UnknownKey {
                key: field.clone(),
                expected: expected.join(", "),
            },
        ),
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_else(|| "?".to_string());
            (join_field(&path, &key), ErrorKind::DuplicateKey(key))
        }
        serde_saphyr::Error::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let kind = if path == "design" {
                ErrorKind::UnknownDesign(variant.clone())
            } else {
                ErrorKind::UnknownValue {
                    value: variant.clone(),
                    expected: expected.join(", "),
                }
            };
            (path, kind)
        }
        other => (path, ErrorKind::Yaml(strip_location(&other.to_string()))),
    };
    Problem {
        pos: Pos {
            line,
            column,
            field,
        },
        kind,
    }
}

/// serde-saphyr appends " at line L, column C" to its messages; we print the place ourselves.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(msg).to_string(),
        None => msg.to_string(),
    }
}
