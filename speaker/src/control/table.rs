//! Human-readable tables for `fabric-speaker ctl`.

use std::fmt::Write;

use super::{FibEntry, NeighborStatus, PathState, RibEntry, RouteEntry, Status};

/// Renders rows as left-aligned columns separated by two spaces.
fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Formats seconds as `1d02h03m`, `02h03m04s` or `3m04s`.
pub fn duration(secs: f64) -> String {
    // Truncation to whole seconds is intended; negative or NaN inputs show as 0s.
    let s = if secs.is_finite() && secs > 0.0 {
        secs as u64
    } else {
        0
    };
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else if h > 0 {
        format!("{h:02}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// The neighbor table.
pub fn neighbors(list: &[NeighborStatus]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            let since = n.established_secs.unwrap_or(n.state_secs);
            vec![
                n.address.to_string(),
                n.peer_as
                    .map_or_else(|| n.remote_as.to_string(), |a| a.to_string()),
                n.state.to_string(),
                duration(since),
                n.prefixes.received.to_string(),
                n.prefixes.advertised.to_string(),
                n.messages.received.total.to_string(),
                n.messages.sent.total.to_string(),
                n.last_error.clone().unwrap_or_default(),
                n.description.clone().unwrap_or_default(),
                n.graceful_restart_helper
                    .as_ref()
                    .map(|h| h.summary())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    columns(
        &[
            "Neighbor",
            "AS",
            "State",
            "Up/Down",
            "PfxRcd",
            "PfxSnt",
            "MsgRcvd",
            "MsgSent",
            "Last error",
            "Description",
            "GR helper",
        ],
        &rows,
    )
}

/// The route table.
pub fn routes(list: &[RouteEntry]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                r.prefix.to_string(),
                r.next_hop.map(|n| n.to_string()).unwrap_or_default(),
                r.peer.to_string(),
                r.as_path.clone(),
                r.origin.clone().unwrap_or_default(),
                r.med.map(|m| m.to_string()).unwrap_or_default(),
                r.local_pref.map(|m| m.to_string()).unwrap_or_default(),
                r.communities.join(" "),
                r.stale.clone().unwrap_or_default(),
            ]
        })
        .collect();
    columns(
        &[
            "Prefix",
            "Next hop",
            "Peer",
            "AS path",
            "Origin",
            "MED",
            "LocPrf",
            "Communities",
            "Stale",
        ],
        &rows,
    )
}

/// The Loc-RIB with every path's status: `*>` best, `*=` multipath, `*` not selected, `x`
/// ineligible (BIRD/FRR-like markers).
pub fn rib(list: &[RibEntry]) -> String {
    let mut rows = Vec::new();
    for e in list {
        for (i, p) in e.paths.iter().enumerate() {
            let mark = match p.status {
                PathState::Best => "*>",
                PathState::Multipath => "*=",
                PathState::NotSelected => "* ",
                PathState::Ineligible => "x ",
            };
            let why = match (&p.reason, &p.beaten_by) {
                (Some(r), Some(b)) => format!("{r} (lost to {b})"),
                (Some(r), None) => r.clone(),
                _ => String::new(),
            };
            let mut rr = String::new();
            if let Some(o) = p.originator_id {
                let _ = write!(rr, "originator {o}");
            }
            if !p.cluster_list.is_empty() {
                let list: Vec<String> = p.cluster_list.iter().map(ToString::to_string).collect();
                let _ = write!(rr, " cluster-list {}", list.join(","));
            }
            rows.push(vec![
                mark.to_owned(),
                if i == 0 {
                    e.prefix.to_string()
                } else {
                    String::new()
                },
                p.next_hop.map(|n| n.to_string()).unwrap_or_default(),
                p.from.map_or_else(|| "local".to_owned(), |a| a.to_string()),
                p.as_path.clone(),
                p.local_pref.map(|m| m.to_string()).unwrap_or_default(),
                p.med.map(|m| m.to_string()).unwrap_or_default(),
                rr.trim().to_owned(),
                why,
            ]);
        }
    }
    columns(
        &[
            "", "Prefix", "Next hop", "From", "AS path", "LocPrf", "MED", "RR", "Why",
        ],
        &rows,
    )
}

/// The kernel routes the speaker installed.
pub fn fib(list: &[FibEntry]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            let via: Vec<String> = f
                .next_hops
                .iter()
                .map(|h| match h.ifindex {
                    Some(i) => format!("{} if{i}", h.gateway),
                    None => h.gateway.to_string(),
                })
                .collect();
            vec![
                f.prefix.to_string(),
                f.kind.clone(),
                via.join(", "),
                match &f.error {
                    None => "installed".to_owned(),
                    Some(e) => format!("refused: {e}"),
                },
            ]
        })
        .collect();
    columns(&["Prefix", "Kind", "Via", "State"], &rows)
}

/// The status block.
pub fn status(s: &Status) -> String {
    let originated: Vec<String> = s.originated.iter().map(|p| p.to_string()).collect();
    format!(
        "router-id {}  local-as {}  listen {}  pid {}  version {}\nuptime {}  neighbors {}/{} established{}\noriginated: {}\n",
        s.router_id,
        s.local_as,
        s.listen,
        s.pid,
        s.version,
        duration(s.uptime_secs),
        s.neighbors_established,
        s.neighbors_configured,
        if s.shutting_down { "  (shutting down)" } else { "" },
        if originated.is_empty() { "-".to_owned() } else { originated.join(" ") },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0.0), "0m00s");
        assert_eq!(duration(65.9), "1m05s");
        assert_eq!(duration(3723.0), "01h02m03s");
        assert_eq!(duration(90061.0), "1d01h01m");
        assert_eq!(duration(f64::NAN), "0m00s");
    }

    #[test]
    fn columns_align() {
        let t = columns(&["A", "Bee"], &[vec!["long cell".into(), "x".into()]]);
        assert_eq!(t, "A          Bee\nlong cell  x\n");
    }
}
