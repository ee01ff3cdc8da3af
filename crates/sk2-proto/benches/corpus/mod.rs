//! The frames of the corpus directory named by `SK2_CORPUS`, shared by the benches.

use std::path::PathBuf;

use sk2_proto::{shape_from_file_name, DepthFrame};

/// Every `<source>-<n>-<W>x<H>.u16` frame of `$SK2_CORPUS` whose name `wanted` accepts, sorted by
/// name; empty when the variable is unset or nothing matches (the bench then says so and falls
/// back to synthetic frames). Unreadable or malformed files are skipped.
pub fn frames(wanted: impl Fn(&str) -> bool) -> Vec<(String, DepthFrame)> {
    let Some(dir) = std::env::var_os("SK2_CORPUS").map(PathBuf::from) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            let (width, height) = shape_from_file_name(&name).filter(|_| wanted(&name))?;
            let bytes = std::fs::read(&path).ok()?;
            let frame = DepthFrame::from_le_bytes(width, height, &bytes).ok()?;
            Some((name, frame))
        })
        .collect()
}
