//! A small harness for end-to-end tests in a real headless Chromium, driven through WebDriver
//! (the system `chromium` and `chromedriver` found on `PATH`, from Debian's `chromium` and
//! `chromium-driver`; never a downloaded browser).

#![allow(dead_code)] // each test file uses its own part of the harness

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};

/// Whether Chromium and chromedriver are on `PATH`. When they are not, `test_name` is skipped
/// with one line on stderr saying how to install them, or fails under `SK2_REQUIRE_TOOLS=1`
/// (`.ci/run`): see [`sk2_testkit::tools`].
pub fn browser_available(test_name: &str) -> bool {
    sk2_testkit::tools::tools_present(test_name, sk2_testkit::tools::CHROMIUM)
}

/// The path of `program` on `PATH` (checked by [`browser_available`] before any browser starts).
fn program(name: &str) -> Result<PathBuf> {
    sk2_testkit::tools::find_program(name).ok_or_else(|| anyhow!("{name} is not on PATH"))
}

/// A child process killed when dropped, with its stderr collected in a file for failure messages.
pub struct Process {
    child: Child,
    pub stderr_path: PathBuf,
}

impl Process {
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory per call: tests run in parallel threads of one process, and two Chromiums
/// sharing a profile directory would hand their windows to each other.
fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the target tmp dir is writable");
    dir
}

/// Starts `kinect-view` with `args` (plus `--listen 127.0.0.1:0`) and returns it and its URL,
/// read from the first line it prints.
pub fn start_viewer(args: &[&str]) -> Result<(Process, String)> {
    let dir = scratch_dir("kinect-view");
    let stderr_path = dir.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinect-view"))
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path)?)
        .spawn()
        .context("starting kinect-view")?;
    let stdout = child.stdout.take().context("kinect-view stdout")?;
    let process = Process { child, stderr_path };
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    reader
        .read_line(&mut line)
        .context("reading kinect-view's first line")?;
    // Keep reading, so a later line never meets a closed pipe.
    std::thread::spawn(move || reader.lines().for_each(drop));
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .ok_or_else(|| anyhow!("no URL in {line:?}; stderr: {}", process.stderr()))?
        .to_owned();
    Ok((process, url))
}

/// A running `kinect-server` with mock sensors: the process, its control endpoint, its device ids.
pub struct MockServer {
    pub process: Process,
    pub control: String,
    pub devices: Vec<String>,
}

/// Starts `kinect-server --no-announce --bind 127.0.0.1` with `args`, and reads the endpoints it
/// prints (`control: ...`, then one `device <id> ...` line per sensor).
pub fn start_mock_server(args: &[&str]) -> Result<MockServer> {
    let mut all = vec!["--no-announce", "--bind", "127.0.0.1"];
    all.extend_from_slice(args);
    start_server_with(&all)
}

/// Starts `kinect-server` with exactly `args` (announcing over mDNS unless told not to: only
/// inside a private network namespace).
pub fn start_server_with(args: &[&str]) -> Result<MockServer> {
    let dir = scratch_dir("kinect-server");
    let stderr_path = dir.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinect-server"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path)?)
        .spawn()
        .context("starting kinect-server")?;
    let stdout = child.stdout.take().context("kinect-server stdout")?;
    let process = Process { child, stderr_path };
    let mut control = None;
    let mut devices = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(endpoint) = line.strip_prefix("control: ") {
            control = Some(endpoint.to_owned());
        } else if let Some(rest) = line.strip_prefix("device ") {
            devices.extend(rest.split_whitespace().next().map(str::to_owned));
            break; // one sensor is all these tests start
        }
    }
    // Keep reading, so a later line never meets a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let control = control.ok_or_else(|| anyhow!("no control line; {}", process.stderr()))?;
    ensure!(!devices.is_empty(), "no device line; {}", process.stderr());
    Ok(MockServer {
        process,
        control,
        devices,
    })
}

/// A WebDriver session in a fresh headless Chromium.
pub struct Browser {
    agent: ureq::Agent,
    base: String,
    session: String,
    _driver: Process,
    _profile: PathBuf,
}

impl Browser {
    pub fn start() -> Result<Self> {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let dir = scratch_dir("chromium");
        let stderr_path = dir.join("chromedriver.log");
        let chromium = program("chromium")?;
        let child = Command::new(program("chromedriver")?)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path)?)
            .spawn()
            .context("starting chromedriver")?;
        let driver = Process { child, stderr_path };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = agent
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut response| response.body_mut().read_json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "chromedriver not ready: {}",
                driver.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = dir.join("profile");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1100,860",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let mut response = agent
            .post(&format!("{base}/session"))
            .send_json(&capabilities)?;
        let created: Value = response.body_mut().read_json()?;
        let session = created["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session: {created}; {}", driver.stderr()))?
            .to_owned();
        Ok(Self {
            agent,
            base,
            session,
            _driver: driver,
            _profile: profile,
        })
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call()?,
            ("DELETE", _) => self.agent.delete(&url).call()?,
            (_, body) => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({})))?,
        };
        let status = response.status();
        let value: Value = response.body_mut().read_json()?;
        if !status.is_success() {
            bail!("WebDriver {method} {path}: {status}: {value}");
        }
        Ok(value["value"].clone())
    }

    pub fn open(&self, url: &str) -> Result<()> {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub fn eval(&self, script: &str, args: Value) -> Result<Value> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    pub fn text(&self, id: &str) -> Result<String> {
        let value = self.eval(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            json!([id]),
        )?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no element #{id}"))
    }

    /// Waits until `check` returns `Some`, polling every 100 ms, up to `timeout`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            // An error (say, the page still loading) is retried until the deadline.
            match check(self) {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(error) => last_error = Some(error),
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out waiting for {what}; status: {:?}; message: {:?}; last error: {:?}",
                    self.text("status").unwrap_or_default(),
                    self.text("message").unwrap_or_default(),
                    last_error
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves the real (WebDriver) mouse to a point of the viewport, in CSS pixels.
    pub fn move_mouse(&self, x: i64, y: i64) -> Result<()> {
        self.command(
            "POST",
            "/actions",
            Some(json!({ "actions": [{
                "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
                "actions": [{ "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y }],
            }]})),
        )
        .map(drop)
    }

    /// Opens a new browser window and returns its handle (the current window stays current).
    pub fn new_window(&self) -> Result<String> {
        let value = self.command("POST", "/window/new", Some(json!({ "type": "window" })))?;
        Ok(value["handle"]
            .as_str()
            .context("new window has no handle")?
            .to_owned())
    }

    /// Makes the window with this handle the current one.
    pub fn switch_to(&self, handle: &str) -> Result<()> {
        self.command("POST", "/window", Some(json!({ "handle": handle })))
            .map(drop)
    }

    /// Closes the current window (like closing a tab).
    pub fn close_window(&self) -> Result<()> {
        self.command("DELETE", "/window", None).map(drop)
    }

    /// GETs a URL outside the browser and parses its JSON (for the viewer's `/api/state`).
    pub fn fetch_json(&self, url: &str) -> Result<Value> {
        Ok(self.agent.get(url).call()?.body_mut().read_json()?)
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        use base64::Engine as _;
        let value = self.command("GET", "/screenshot", None)?;
        let text = value.as_str().context("screenshot is not a string")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command("DELETE", "", None);
    }
}
