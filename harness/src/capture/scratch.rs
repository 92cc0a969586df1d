//! Test-only scratch lab: two namespaces (made with `lab::netns`) joined by one veth, made with
//! `ip` shell-outs because the lab's link API is not committed yet. TODO(capture): use the lab
//! builder once it lands. Names start with `fl-cap-` and everything is removed on drop.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::lab::netns::{create_netns, delete_netns, netns_path};

/// Two namespaces `a` and `b`, veth `ea` in `a` (10.99.0.0/31) to `eb` in `b` (10.99.0.1/31).
pub struct ScratchPair {
    pub ns_a: String,
    pub ns_b: String,
    created: Vec<PathBuf>,
}

impl ScratchPair {
    pub const IF_A: &'static str = "ea";
    pub const IF_B: &'static str = "eb";
    pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 0);
    pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    /// Whether this process may create namespaces: root, with `ip` installed.
    pub fn can_run() -> bool {
        nix::unistd::geteuid().is_root()
            && Command::new("ip")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
    }

    pub fn create() -> io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let id = format!("{:x}{:x}", std::process::id(), nanos);
        let mut pair = ScratchPair {
            ns_a: format!("fl-cap-{id}-a"),
            ns_b: format!("fl-cap-{id}-b"),
            created: Vec::new(),
        };
        // From here on, drop removes whatever was made.
        pair.created.push(create_netns(&pair.ns_a)?);
        pair.created.push(create_netns(&pair.ns_b)?);
        ip(&[
            "-n",
            &pair.ns_a,
            "link",
            "add",
            Self::IF_A,
            "type",
            "veth",
            "peer",
            "name",
            Self::IF_B,
            "netns",
            &pair.ns_b,
        ])?;
        for (ns, ifname, addr) in [
            (&pair.ns_a, Self::IF_A, Self::ADDR_A),
            (&pair.ns_b, Self::IF_B, Self::ADDR_B),
        ] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/31"),
                "dev",
                ifname,
            ])?;
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// Sets `ea` (the captured end) up or down.
    pub fn set_a_up(&self, up: bool) -> io::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns_a, "link", "set", Self::IF_A, state])
    }

    pub fn path_a(&self) -> PathBuf {
        netns_path(&self.ns_a)
    }

    pub fn path_b(&self) -> PathBuf {
        netns_path(&self.ns_b)
    }
}

impl Drop for ScratchPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth in it, and so its peer.
        for path in &self.created {
            let _ = delete_netns(path);
        }
    }
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
