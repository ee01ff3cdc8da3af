//! CurveZMQ key files for the binaries (docs/security.md): where they live, making them, and
//! reading them with the checks a user needs (present, well-formed, private, consistent).
//!
//! The formats are `sk2_proto::curve`'s: czmq/pyzmq certificates, `NAME.key` (public) and
//! `NAME.key_secret` (public and secret, mode 0600). Reading is [`sk2_client::key_files`]'s,
//! shared with the Python binding; this module adds what a user of the tools is told.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sk2_client::key_files::{self, KeyFileError};
pub use sk2_client::key_files::{
    public_file, public_key_of, secret_file, CLIENT_KEY_NAME, SERVER_KEY_NAME,
};
use sk2_proto::curve::{
    encode_public_certificate, encode_secret_certificate, KeyPair, PublicKey, SecretKey,
};

/// Where key pairs live by default: `$XDG_CONFIG_HOME/streamkinect2`, or
/// `~/.config/streamkinect2` (the XDG base directory specification's default).
pub fn key_dir() -> Result<PathBuf> {
    key_files::default_key_dir()
        .context("neither XDG_CONFIG_HOME nor HOME is set: pass the key file explicitly")
}

/// A new random key pair (libsodium's generator, through libzmq).
pub fn generate() -> Result<KeyPair> {
    let pair = zmq::CurveKeyPair::new().context("generating a CURVE key pair")?;
    Ok(KeyPair {
        public: PublicKey(pair.public_key),
        secret: SecretKey(pair.secret_key),
    })
}

/// Writes `keys` as `dir/NAME.key_secret` (mode 0600, created so: never readable by others, not
/// even for a moment) and `dir/NAME.key`, creating `dir` (mode 0700) if needed. Refuses to
/// overwrite an existing key unless `force`. Returns the two paths, secret first.
pub fn write_key_pair(
    dir: &Path,
    name: &str,
    keys: &KeyPair,
    force: bool,
) -> Result<(PathBuf, PathBuf)> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("a key name is a plain file name, got {name:?}");
    }
    create_private_dir(dir)?;
    let secret_path = secret_file(dir, name);
    let public_path = public_file(dir, name);
    let comment = format!(
        "Made by kinect-keygen ({} {})",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    write_new(
        &secret_path,
        &encode_secret_certificate(keys, &comment),
        0o600,
        force,
    )?;
    write_new(
        &public_path,
        &encode_public_certificate(&keys.public, &comment),
        0o644,
        force,
    )?;
    Ok((secret_path, public_path))
}

/// Reads a key pair from a secret-key file: it must exist, be private (no access for group or
/// others), hold both keys, and its secret key must belong to its public key.
pub fn read_key_pair(path: &Path) -> Result<KeyPair> {
    key_files::read_key_pair(path).map_err(|error| match error {
        // Most often the first run of a secure server: say how to make one.
        KeyFileError::Unreadable { path, source } => anyhow::Error::new(source).context(format!(
            "cannot read the key file {} (make one with kinect-keygen)",
            path.display()
        )),
        other => other.into(),
    })
}

/// A public key given on the command line: 40 Z85 characters, or the path of a key file (either
/// kind: only its public key is read).
///
/// An existing file wins: a 40-character path such as `/tmp/.tmpAbCdEf/streamkinect2/server.key`
/// is also valid Z85.
pub fn read_public_key(key_or_path: &str) -> Result<PublicKey> {
    let path = Path::new(key_or_path);
    if !path.exists() {
        return PublicKey::from_z85(key_or_path).map_err(|_| {
            anyhow::anyhow!(
                "{key_or_path:?} is neither a 40-character Z85 key nor an existing key file"
            )
        });
    }
    Ok(key_files::read_public_key(path)?)
}

/// The `--server-key` and `--client-key` flags of the client tools (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClientKeyArgs {
    /// A secure server's public key (docs/security.md): its 40 Z85 characters, or its key file
    /// (`server.key`). Without it, only open servers can be reached.
    #[arg(long, value_name = "KEY|FILE")]
    pub server_key: Option<String>,
    /// With --server-key: this client's secret key file, for a server that admits only
    /// authorised clients (default: `$XDG_CONFIG_HOME/streamkinect2/client.key_secret` if it
    /// exists, else a key pair made for this run).
    #[arg(long, value_name = "FILE", requires = "server_key")]
    pub client_key: Option<PathBuf>,
}

impl ClientKeyArgs {
    /// Reads the keys the flags name, with all the checks of [`read_key_pair`]; `None` without
    /// `--server-key`.
    pub fn load(&self) -> Result<Option<ClientKeys>> {
        let Some(server_key) = &self.server_key else {
            return Ok(None);
        };
        let server = read_public_key(server_key)?;
        let default_file = || {
            key_dir()
                .ok()
                .map(|dir| secret_file(&dir, CLIENT_KEY_NAME))
                .filter(|path| path.exists())
        };
        let client = match self.client_key.clone().or_else(default_file) {
            Some(path) => Some(read_key_pair(&path)?),
            None => None,
        };
        Ok(Some(ClientKeys { server, client }))
    }
}

/// The CurveZMQ keys of a client tool, read from its flags.
#[derive(Debug, Clone)]
pub struct ClientKeys {
    /// The server's public key.
    pub server: PublicKey,
    /// The client's key pair, if one was given or found.
    pub client: Option<KeyPair>,
}

impl ClientKeys {
    /// `config` with these keys.
    pub fn configure(&self, config: sk2_client::ClientConfig) -> sk2_client::ClientConfig {
        let config = config.with_server_key(self.server);
        match &self.client {
            Some(keys) => config.with_client_keys(keys.clone()),
            None => config,
        }
    }
}

/// `config` with the keys of `keys`, if any.
pub fn configure(
    config: sk2_client::ClientConfig,
    keys: Option<&ClientKeys>,
) -> sk2_client::ClientConfig {
    match keys {
        Some(keys) => keys.configure(config),
        None => config,
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn write_new(path: &Path, text: &str, mode: u32, force: bool) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !force {
            format!(
                "{} exists already (--force replaces it; clients that know the old key will \
                 be refused)",
                path.display()
            )
        } else {
            format!("creating {}", path.display())
        }
    })?;
    // An existing file kept its old mode through `--force`: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_pair_reads_back_and_its_secret_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate().unwrap();
        let (secret, public) = write_key_pair(dir.path(), "server", &keys, false).unwrap();
        assert_eq!(read_key_pair(&secret).unwrap(), keys);
        assert_eq!(
            read_public_key(public.to_str().unwrap()).unwrap(),
            keys.public
        );
        assert_eq!(read_public_key(&keys.public.to_z85()).unwrap(), keys.public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Not overwritten without force; replaced with it.
        assert!(write_key_pair(dir.path(), "server", &generate().unwrap(), false).is_err());
        let other = generate().unwrap();
        write_key_pair(dir.path(), "server", &other, true).unwrap();
        assert_eq!(read_key_pair(&secret).unwrap(), other);
    }

    #[test]
    fn the_public_key_of_a_secret_key_is_derived_as_libzmq_does() {
        let keys = generate().unwrap();
        assert_eq!(public_key_of(&keys.secret), keys.public);
    }

    #[test]
    fn bad_key_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate().unwrap();
        let (secret, public) = write_key_pair(dir.path(), "k", &keys, false).unwrap();
        let message = |path: &Path| format!("{:#}", read_key_pair(path).unwrap_err());

        assert!(message(&dir.path().join("missing")).contains("kinect-keygen"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(
                message(&secret).contains("chmod 600"),
                "{}",
                message(&secret)
            );
            fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        }
        // The public file where the secret one is expected (made private to pass that check).
        let copy = dir.path().join("public-as-secret");
        fs::copy(&public, &copy).unwrap();
        set_private(&copy);
        assert!(
            message(&copy).contains("no secret-key"),
            "{}",
            message(&copy)
        );
        // A changed character in the secret key: still Z85, but no longer the public key's.
        let text = fs::read_to_string(&secret).unwrap();
        let z85 = keys.secret.to_z85();
        let flipped = if z85.starts_with('0') { "1" } else { "0" };
        let corrupt = dir.path().join("corrupt");
        fs::write(
            &corrupt,
            text.replace(&z85, &format!("{flipped}{}", &z85[1..])),
        )
        .unwrap();
        set_private(&corrupt);
        assert!(
            message(&corrupt).contains("corrupt"),
            "{}",
            message(&corrupt)
        );
        let garbage = dir.path().join("garbage");
        fs::write(&garbage, "hello\nworld\n").unwrap();
        set_private(&garbage);
        assert!(message(&garbage).contains("not a CURVE key file"));

        assert!(read_public_key("nonsense").is_err());
        // A file whose 40-character path is valid Z85 is read as a file.
        let forty = format!("/tmp/{}", "k".repeat(35));
        if fs::copy(&public, &forty).is_ok() {
            assert!(PublicKey::from_z85(&forty).is_ok());
            let read = read_public_key(&forty);
            let _ = fs::remove_file(&forty);
            assert_eq!(read.unwrap(), keys.public);
        }
    }

    fn set_private(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = path;
    }
}
