//! The authorised client keys of a secure server (`kinect-server --authorized-keys DIR`): the
//! public key file (`*.key`) of each client in a directory, read at start and watched while the
//! server runs, so that adding or removing a file admits or refuses that client from its next
//! connection on, without a restart.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sk2_proto::curve::{decode_certificate, PublicKey, PUBLIC_CERTIFICATE_SUFFIX};
use sk2_server::AuthorizedClients;

/// How often a running server looks at the directory again.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// What one look at the directory found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyScan {
    /// The public keys of the readable `*.key` files.
    pub keys: BTreeSet<PublicKey>,
    /// `*.key` files that could not be read or are not key files, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Reads every `*.key` file in `dir`; other files are ignored. Fails only when the directory
/// itself cannot be read.
pub fn scan(dir: &Path) -> Result<KeyScan> {
    let entries = fs::read_dir(dir)
        .with_context(|| format!("reading the authorised keys directory {}", dir.display()))?;
    let mut scan = KeyScan::default();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let is_public_key = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.ends_with(PUBLIC_CERTIFICATE_SUFFIX));
        if !is_public_key {
            continue;
        }
        let read = fs::read_to_string(&path)
            .map_err(|error| error.to_string())
            .and_then(|text| {
                decode_certificate(&text).map_err(|error| format!("not a CURVE key file ({error})"))
            });
        match read {
            Ok(certificate) => {
                scan.keys.insert(certificate.public);
            }
            Err(reason) => scan.unreadable.push((path, reason)),
        }
    }
    Ok(scan)
}

/// The keys in `dir` at start. Fails on a missing or empty directory and on any `*.key` file that
/// is not a key: better to refuse to start than to lock out a client silently.
pub fn read(dir: &Path) -> Result<BTreeSet<PublicKey>> {
    let scan = scan(dir)?;
    if let Some((path, reason)) = scan.unreadable.first() {
        bail!("{}: {reason}", path.display());
    }
    if scan.keys.is_empty() {
        bail!(
            "{} holds no client key (*{PUBLIC_CERTIFICATE_SUFFIX} file): no client could connect",
            dir.display()
        );
    }
    Ok(scan.keys)
}

/// Looks at `dir` every `interval` and makes `clients` exactly its readable keys whenever they
/// change, logging what changed. A removed key is refused from the next connection on, so an
/// unreadable file is skipped (with a warning) rather than keeping every old key; an empty
/// directory admits no client. If the directory cannot be read at all (being replaced, say),
/// the keys stay as they are until it can. The thread runs until the process ends.
pub fn watch(
    dir: PathBuf,
    clients: AuthorizedClients,
    interval: Duration,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sk2-authorized-keys".into())
        .spawn(move || {
            let mut reported = Vec::new();
            loop {
                std::thread::sleep(interval);
                refresh(&dir, &clients, &mut reported);
            }
        })
        .context("starting the authorised keys watcher")
}

/// One look: applies the directory's keys to `clients`; `reported` holds the problems already
/// logged, so each is logged once.
pub fn refresh(dir: &Path, clients: &AuthorizedClients, reported: &mut Vec<String>) {
    let scan = match scan(dir) {
        Ok(scan) => scan,
        Err(error) => {
            let problem = format!("{error:#}");
            if !reported.contains(&problem) {
                tracing::error!(error = %problem, "authorised keys unchanged");
                reported.push(problem);
            }
            return;
        }
    };
    let problems: Vec<String> = scan
        .unreadable
        .iter()
        .map(|(path, reason)| format!("{}: {reason}", path.display()))
        .collect();
    for problem in problems
        .iter()
        .filter(|problem| !reported.contains(problem))
    {
        tracing::warn!(%problem, "skipped an authorised key file");
    }
    *reported = problems;
    let before = clients.keys();
    if *before == scan.keys {
        return;
    }
    let added = scan.keys.difference(&before).count();
    let removed = before.difference(&scan.keys).count();
    if scan.keys.is_empty() {
        tracing::warn!(dir = %dir.display(), "no authorised client key left: no client is admitted");
    }
    tracing::info!(
        keys = scan.keys.len(),
        added,
        removed,
        "authorised client keys reloaded"
    );
    clients.replace(scan.keys);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, write_key_pair};

    #[test]
    fn authorised_keys_are_the_public_key_files_of_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_err(), "empty");
        let a = generate().unwrap();
        let b = generate().unwrap();
        write_key_pair(dir.path(), "a", &a, false).unwrap();
        write_key_pair(dir.path(), "b", &b, false).unwrap();
        fs::write(dir.path().join("README"), "not a key").unwrap();
        let keys = read(dir.path()).unwrap();
        assert_eq!(keys, BTreeSet::from([a.public, b.public]));
        fs::write(dir.path().join("bad.key"), "junk").unwrap();
        let error = read(dir.path()).unwrap_err().to_string();
        assert!(error.contains("bad.key: not a CURVE key file"), "{error}");
        assert!(read(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_refresh_applies_added_and_removed_files_and_skips_unreadable_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (generate().unwrap(), generate().unwrap());
        write_key_pair(dir.path(), "a", &a, false).unwrap();
        let clients = AuthorizedClients::new(read(dir.path()).unwrap());
        let mut reported = Vec::new();

        write_key_pair(dir.path(), "b", &b, false).unwrap();
        fs::remove_file(dir.path().join("a.key")).unwrap();
        fs::write(dir.path().join("broken.key"), "junk").unwrap();
        refresh(dir.path(), &clients, &mut reported);
        assert_eq!(*clients.keys(), BTreeSet::from([b.public]));
        assert_eq!(reported.len(), 1, "{reported:?}");

        // Every file gone: nobody is admitted.
        fs::remove_file(dir.path().join("b.key")).unwrap();
        fs::remove_file(dir.path().join("broken.key")).unwrap();
        refresh(dir.path(), &clients, &mut reported);
        assert!(clients.keys().is_empty());
        assert!(reported.is_empty());

        // A directory that cannot be read keeps the keys there were.
        write_key_pair(dir.path(), "a", &a, true).unwrap();
        refresh(dir.path(), &clients, &mut reported);
        assert_eq!(*clients.keys(), BTreeSet::from([a.public]));
        let moved = dir.path().with_extension("moved");
        fs::rename(dir.path(), &moved).unwrap();
        refresh(dir.path(), &clients, &mut reported);
        assert_eq!(*clients.keys(), BTreeSet::from([a.public]));
        assert_eq!(reported.len(), 1, "{reported:?}");
        fs::rename(&moved, dir.path()).unwrap();
    }
}
