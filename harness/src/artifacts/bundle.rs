//! Writing and opening bundles.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::run::{Evidence, RunOptions, RunReport, Verdict};
use crate::scenario::Scenario;
use crate::topology::Design;

/// Bumped when the layout changes incompatibly.
pub const BUNDLE_FORMAT: u32 = 1;

/// Why a bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BundleError {
    let what = what.into();
    move |source| BundleError::Io { what, source }
}

/// The run options, as far as they decide what a replay does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledOptions {
    /// Topology file inside the bundle.
    pub topology: String,
    /// Where the topology came from.
    pub topology_source: PathBuf,
    pub design: Option<Design>,
    /// `--speaker` syntax.
    pub speakers: Option<String>,
    /// `--misconfig` syntax.
    pub misconfig: Option<String>,
    pub deadline_s: u64,
    pub capture: bool,
    pub ping_timeout_ms: u64,
    /// Scenario file inside the bundle.
    pub scenario: Option<String>,
    /// Random seed of the run: fabriclab draws nothing at random that changes the fabric (the
    /// run id only names namespaces), so this is always null; kept for the format.
    pub seed: Option<u64>,
    /// Speaker timers and GR settings (informational: replays use the defaults).
    pub speaker_options: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub fabriclab_version: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub lab: String,
    pub plan: String,
    pub verdict: Verdict,
    pub failing_checks: Vec<String>,
    pub options: BundledOptions,
}

/// What goes into a bundle.
pub struct BundleInput<'a> {
    pub opts: &'a RunOptions,
    pub scenario: Option<&'a Scenario>,
    pub report: &'a RunReport,
    pub evidence: &'a Evidence,
}

/// Where a bundle was written.
#[derive(Debug, Clone)]
pub struct WrittenBundle {
    pub dir: PathBuf,
    pub tarball: PathBuf,
}

/// `./fabriclab-bundles` (ignored by git).
pub fn default_bundle_root() -> PathBuf {
    PathBuf::from("fabriclab-bundles")
}

/// UTC `YYYYmmddTHHMMSSZ` (Howard Hinnant's civil-from-days, to avoid a date crate).
fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), BundleError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| BundleError::Json {
        what: format!("failed to encode {}", path.display()),
        source,
    })?;
    fs::write(path, text).map_err(io_err(format!("failed to write {}", path.display())))
}

/// Copies regular files (and directories) only: daemon run dirs hold control sockets and
/// pid files of processes that are gone.
fn copy_tree(from: &Path, to: &Path) -> Result<(), BundleError> {
    if !from.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(to).map_err(io_err(format!("failed to create {}", to.display())))?;
    let entries =
        fs::read_dir(from).map_err(io_err(format!("failed to list {}", from.display())))?;
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let dst = to.join(e.file_name());
        if ft.is_dir() {
            copy_tree(&e.path(), &dst)?;
        } else if ft.is_file() {
            fs::copy(e.path(), &dst)
                .map_err(io_err(format!("failed to copy {}", e.path().display())))?;
        }
    }
    Ok(())
}

/// Writes the bundle directory under `root` and its `.tar.gz` next to it.
pub fn write_bundle(root: &Path, input: &BundleInput<'_>) -> Result<WrittenBundle, BundleError> {
    let now = SystemTime::now();
    let name = format!("{}-{}", input.report.lab, timestamp(now));
    let dir = root.join(&name);
    fs::create_dir_all(&dir).map_err(io_err(format!("failed to create {}", dir.display())))?;
    let opts = input.opts;
    fs::copy(&opts.topology, dir.join("topology.yaml")).map_err(io_err(format!(
        "failed to copy the topology {}",
        opts.topology.display()
    )))?;
    if let Some(sc) = input.scenario {
        fs::write(dir.join("scenario.yaml"), &sc.source)
            .map_err(io_err("failed to write scenario.yaml"))?;
    }
    let ev = input.evidence;
    write_json(&dir.join("plan.json"), &ev.plan)?;
    write_json(&dir.join("expected-plan.json"), &ev.expected_plan)?;
    write_json(&dir.join("expected-fibs.json"), &ev.expected)?;
    write_json(&dir.join("actual-fibs.json"), &ev.actual)?;
    write_json(&dir.join("report.json"), input.report)?;
    crate::timeline::write_jsonl(&dir.join("timeline.jsonl"), &ev.timeline)
        .map_err(io_err("failed to write timeline.jsonl"))?;
    copy_tree(&ev.artifacts.join("pcap"), &dir.join("pcap"))?;
    copy_tree(&ev.artifacts.join("nodes"), &dir.join("nodes"))?;
    let manifest = Manifest {
        format: BUNDLE_FORMAT,
        fabriclab_version: env!("CARGO_PKG_VERSION").to_string(),
        created: now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        lab: input.report.lab.clone(),
        plan: input.report.plan.clone(),
        verdict: input.report.verdict,
        failing_checks: input
            .report
            .checks
            .iter()
            .filter(|c| c.failed())
            .map(|c| c.name.clone())
            .collect(),
        options: BundledOptions {
            topology: "topology.yaml".into(),
            topology_source: opts.topology.clone(),
            design: opts.load.design,
            speakers: opts.load.speakers.as_ref().map(ToString::to_string),
            misconfig: opts.misconfig.map(|m| m.to_string()),
            deadline_s: opts.deadline.as_secs(),
            capture: opts.capture,
            ping_timeout_ms: u64::try_from(opts.ping_timeout.as_millis()).unwrap_or(u64::MAX),
            scenario: input.scenario.map(|_| "scenario.yaml".to_string()),
            seed: None,
            speaker_options: format!("{:?}", opts.speaker),
        },
    };
    write_json(&dir.join("manifest.json"), &manifest)?;
    let tarball = root.join(format!("{name}.tar.gz"));
    write_tarball(&dir, &name, &tarball)?;
    Ok(WrittenBundle { dir, tarball })
}

fn write_tarball(dir: &Path, name: &str, out: &Path) -> Result<(), BundleError> {
    let file =
        fs::File::create(out).map_err(io_err(format!("failed to create {}", out.display())))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(name, dir)
        .map_err(io_err(format!("failed to archive {}", dir.display())))?;
    let gz = tar
        .into_inner()
        .map_err(io_err(format!("failed to finish {}", out.display())))?;
    gz.finish()
        .map_err(io_err(format!("failed to finish {}", out.display())))?;
    Ok(())
}

/// A bundle ready to read: a directory (extracted to a temporary one for a tarball).
#[derive(Debug)]
pub struct OpenBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Holds the extraction directory of a tarball until dropped.
    _extracted: Option<tempfile::TempDir>,
}

impl OpenBundle {
    /// The bundled topology file.
    pub fn topology(&self) -> PathBuf {
        self.dir.join(&self.manifest.options.topology)
    }

    /// The bundled scenario file, if the run had one.
    pub fn scenario(&self) -> Option<PathBuf> {
        self.manifest
            .options
            .scenario
            .as_ref()
            .map(|s| self.dir.join(s))
    }

    /// The bundled report.
    pub fn report(&self) -> Result<RunReport, BundleError> {
        read_json(&self.dir.join("report.json"))
    }

    /// The bundled timeline.
    pub fn timeline_path(&self) -> PathBuf {
        self.dir.join("timeline.jsonl")
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BundleError> {
    let text =
        fs::read_to_string(path).map_err(io_err(format!("failed to read {}", path.display())))?;
    serde_json::from_str(&text).map_err(|source| BundleError::Json {
        what: format!("invalid {}", path.display()),
        source,
    })
}

/// Opens a bundle directory or `.tar.gz`.
pub fn open_bundle(path: &Path) -> Result<OpenBundle, BundleError> {
    let (dir, extracted) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let tmp = tempfile::Builder::new()
            .prefix("fabriclab-bundle-")
            .tempdir()
            .map_err(io_err("failed to create a directory to extract into"))?;
        let file =
            fs::File::open(path).map_err(io_err(format!("failed to open {}", path.display())))?;
        tar::Archive::new(flate2::read::GzDecoder::new(file))
            .unpack(tmp.path())
            .map_err(io_err(format!("failed to extract {}", path.display())))?;
        let top: Vec<PathBuf> = fs::read_dir(tmp.path())
            .map_err(io_err("failed to list the extracted bundle"))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        let [top] = <[PathBuf; 1]>::try_from(top).map_err(|v| {
            BundleError::Invalid(format!(
                "{}: expected one top directory, found {}",
                path.display(),
                v.len()
            ))
        })?;
        (top, Some(tmp))
    };
    let manifest: Manifest = read_json(&dir.join("manifest.json"))?;
    if manifest.format != BUNDLE_FORMAT {
        return Err(BundleError::Invalid(format!(
            "{}: bundle format {} (this fabriclab reads {BUNDLE_FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    Ok(OpenBundle {
        dir,
        manifest,
        _extracted: extracted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096);
        // 2024-02-29 12:34:56 UTC (a leap day).
        assert_eq!(timestamp(t), "20240229T123456Z");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn copy_tree_keeps_regular_files_only() {
        let src = tempfile::tempdir().expect("tmp");
        let dst = tempfile::tempdir().expect("tmp");
        fs::create_dir_all(src.path().join("a/b")).expect("mkdir");
        fs::write(src.path().join("a/b/log"), "x").expect("write");
        let _sock =
            std::os::unix::net::UnixListener::bind(src.path().join("a/ctl.sock")).expect("bind");
        copy_tree(src.path(), &dst.path().join("out")).expect("copy");
        assert!(dst.path().join("out/a/b/log").is_file());
        assert!(!dst.path().join("out/a/ctl.sock").exists());
    }

    #[test]
    fn tarball_round_trips_through_open_bundle() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("lab-x");
        fs::create_dir_all(dir.join("pcap")).expect("mkdir");
        fs::write(dir.join("pcap/l1.pcapng"), b"pcap").expect("write");
        let manifest = Manifest {
            format: BUNDLE_FORMAT,
            fabriclab_version: "0".into(),
            created: 0,
            lab: "lab".into(),
            plan: "p".into(),
            verdict: Verdict::Fail,
            failing_checks: vec!["fib".into()],
            options: BundledOptions {
                topology: "topology.yaml".into(),
                topology_source: "t.yaml".into(),
                design: None,
                speakers: Some("bird".into()),
                misconfig: Some("no-next-hop-self".into()),
                deadline_s: 60,
                capture: true,
                ping_timeout_ms: 2000,
                scenario: None,
                seed: None,
                speaker_options: String::new(),
            },
        };
        write_json(&dir.join("manifest.json"), &manifest).expect("manifest");
        let tgz = root.path().join("lab-x.tar.gz");
        write_tarball(&dir, "lab-x", &tgz).expect("tar");
        let b = open_bundle(&tgz).expect("open");
        assert_eq!(b.manifest, manifest);
        assert_eq!(
            fs::read(b.dir.join("pcap/l1.pcapng")).expect("read"),
            b"pcap"
        );
        assert_eq!(open_bundle(&dir).expect("open dir").manifest, manifest);
    }
}
