//! Tests over the sample topologies in `topologies/` and the bad inputs in `topologies/bad/`.

use std::path::{Path, PathBuf};

use super::*;

fn topologies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies")
}

#[test]
fn print_as_per_rack() {
    let plan = load(&topologies_dir().join("as-per-rack.yaml")).unwrap();
    println!("{}", render_plan(&plan));
}
