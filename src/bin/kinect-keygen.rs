//! `kinect-keygen`: makes a CurveZMQ key pair for a secure `kinect-server` or one of its clients
//! (docs/security.md).
//!
//! `kinect-keygen` writes `server.key_secret` (mode 0600) and `server.key` into
//! `$XDG_CONFIG_HOME/streamkinect2` (`~/.config/streamkinect2`), where `kinect-server --secure`
//! looks; `kinect-keygen --client` writes `client.key_secret` and `client.key`, where the
//! clients look. `--dir` and `--name` put them elsewhere. Prints the public key.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use streamkinect2::keys;

#[derive(Parser, Debug)]
#[command(
    name = "kinect-keygen",
    version,
    about = "Make a CurveZMQ key pair for kinect-server --secure or its clients"
)]
struct Args {
    /// Make a client's key pair (`client.key_secret`) instead of the server's
    /// (`server.key_secret`).
    #[arg(long)]
    client: bool,
    /// File name of the pair, without suffix (default: `server`, or `client` with --client).
    #[arg(long)]
    name: Option<String>,
    /// Directory to write into (default: `$XDG_CONFIG_HOME/streamkinect2`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Replace an existing key pair (peers that know the old public key will be refused).
    #[arg(long)]
    force: bool,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("kinect-keygen: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => keys::key_dir()?,
    };
    let default_name = if args.client {
        keys::CLIENT_KEY_NAME
    } else {
        keys::SERVER_KEY_NAME
    };
    let name = args.name.as_deref().unwrap_or(default_name);
    let pair = keys::generate()?;
    let (secret, public) = keys::write_key_pair(&dir, name, &pair, args.force)?;
    println!("public key: {}", pair.public);
    println!("secret key file: {}", secret.display());
    println!("public key file: {}", public.display());
    Ok(())
}
