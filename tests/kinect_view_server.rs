//! End-to-end: `kinect-server` with a mock sensor whose pictures are known, `kinect-view`
//! connected to it, and the page checked in a real headless Chromium. Needs Debian's `chromium`
//! and `chromium-driver` (`.ci/run` installs them).

use crate::browser;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use base64::Engine as _;
use browser::{browser_available, start_mock_server, start_server_with, start_viewer, Browser};
use serde_json::{json, Value};
use sk2_mock::{MockConfig, MockKinect};
use sk2_proto::sk2;

/// The fps a tab may show for a 30 fps sensor: never above the sensor's rate (with rounding and
/// timer jitter), and not near zero; the lower bound leaves room for a starved CI machine, where a
/// tab draws slowly and (correctly) skips frames.
const PLAUSIBLE_FPS: std::ops::RangeInclusive<f64> = 3.0..=36.0;

/// Time allowed for the page to show frames (cold Chromium and a busy CI machine are slow).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Mock frames searched for the one the page shows. The plain mock's only motion is a sphere
/// swinging with `sin(sequence / 30)`, so every picture it makes appears within 2 pi x 30 < 190
/// frames; 400 leaves room.
const MOCK_FRAMES_SEARCHED: u64 = 400;

fn status_fps(status: &str) -> Option<f64> {
    let end = status.find(" fps")?;
    status[..end].rsplit(' ').next()?.parse().ok()
}

fn wait_for_frames(browser: &Browser) -> Result<f64> {
    browser.wait_for("a plausible fps", PAGE_TIMEOUT, |b| {
        Ok(status_fps(&b.text("status")?).filter(|fps| PLAUSIBLE_FPS.contains(fps)))
    })
}

fn set_range(browser: &Browser, near: u16, far: u16) -> Result<()> {
    browser.eval(
        "for (const [id, v] of [['near', arguments[0]], ['far', arguments[1]]]) {
           const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('input'));
         }",
        json!([near, far]),
    )?;
    Ok(())
}

/// Hovers image pixel (`col`, `row`) with the WebDriver mouse.
fn hover(browser: &Browser, col: usize, row: usize) -> Result<()> {
    let rect: Vec<f64> = serde_json::from_value(browser.eval(
        "const c = document.getElementById('depth'); const r = c.getBoundingClientRect();
         return [r.left, r.top, r.width / c.width, r.height / c.height];",
        json!([]),
    )?)?;
    let x = (rect[0] + (col as f64 + 0.5) * rect[2]).round() as i64;
    let y = (rect[1] + (row as f64 + 0.5) * rect[3]).round() as i64;
    browser.move_mouse(x, y)
}

/// Everything about one drawn frame, read in one script run so no new frame can come between:
/// the frame's depth values, the readout, the canvas colours, the legend and the range.
struct Drawn {
    width: usize,
    depth: Vec<u16>,
    readout: String,
    pointer: (usize, usize),
    canvas_rgba: Vec<u8>,
    legend_rgba: Vec<u8>,
    near: f64,
    far: f64,
}

impl Drawn {
    fn read(browser: &Browser) -> Result<Self> {
        // The depth values and canvas pixels travel as base64 of their bytes: as JSON arrays of
        // numbers they are megabytes that a debug build takes seconds to parse.
        let value = browser.eval(
            "const base64 = (bytes) => { let s = '';
               for (let i = 0; i < bytes.length; i += 8192)
                 s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
               return btoa(s); };
             const f = view.frame; const c = document.getElementById('depth');
             const l = document.getElementById('legend-bar');
             const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const lg = l.getContext('2d').getImageData(0, 0, l.width, 1).data;
             const depth = new Uint16Array(f.depth);
             return { width: f.width,
                      depthLe: base64(new Uint8Array(depth.buffer)),
                      readout: document.getElementById('readout').textContent,
                      pointer: view.pointer ? [view.pointer.x, view.pointer.y] : null,
                      canvasRgba: base64(new Uint8Array(px.buffer)), legendRgba: Array.from(lg),
                      near: view.near, far: view.far };",
            json!([]),
        )?;
        let bytes = |key: &str| -> Result<Vec<u8>> {
            let text = value[key].as_str().with_context(|| format!("no {key}"))?;
            Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
        };
        let depth = bytes("depthLe")?
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        let pointer: Option<(usize, usize)> = serde_json::from_value(value["pointer"].clone())?;
        Ok(Self {
            width: serde_json::from_value(value["width"].clone())?,
            depth,
            readout: value["readout"].as_str().unwrap_or_default().to_owned(),
            pointer: pointer.context("the page has no pointer position")?,
            canvas_rgba: bytes("canvasRgba")?,
            legend_rgba: serde_json::from_value(value["legendRgba"].clone())?,
            near: value["near"].as_f64().context("near")?,
            far: value["far"].as_f64().context("far")?,
        })
    }

    fn canvas_rgb(&self, index: usize) -> [u8; 3] {
        let p = &self.canvas_rgba[4 * index..4 * index + 3];
        [p[0], p[1], p[2]]
    }

    /// The legend's colour for `depth_mm`: its canvas has one pixel per colour, near to far.
    fn legend_rgb(&self, depth_mm: u16) -> [u8; 3] {
        let width = self.legend_rgba.len() / 4;
        let t = ((f64::from(depth_mm) - self.near) / (self.far - self.near)).clamp(0.0, 1.0);
        let x = (t * (width - 1) as f64).round() as usize;
        let p = &self.legend_rgba[4 * x..4 * x + 3];
        [p[0], p[1], p[2]]
    }
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 3)
}

#[test]
fn the_page_shows_the_mock_servers_known_picture_exactly_with_legend_colours_and_hover_depth(
) -> Result<()> {
    if !browser_available(
        "the_page_shows_the_mock_servers_known_picture_exactly_with_legend_colours_and_hover_depth",
    ) {
        return Ok(());
    }
    let server = start_mock_server(&["--name", "E2E Mock", "--fps", "30"])?;
    let (viewer, url) = start_viewer(&["--connect", &server.control])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    let fps =
        wait_for_frames(&browser).with_context(|| format!("viewer stderr: {}", viewer.stderr()))?;
    let status = browser.text("status")?;
    ensure!(status.contains("server E2E Mock"), "status: {status}");
    ensure!(
        status.contains(&format!("sensor {}", server.devices[0])),
        "status: {status}"
    );
    // The viewer reads depth_v2 when the server offers it (lossless, with capture times, so the
    // latency is known), else the original depth (no capture time: no latency figure).
    if status.contains("(depth_v2)") {
        ensure!(!status.contains("latency \u{2013}"), "status: {status}");
    } else {
        ensure!(status.contains("codec sk2 (depth)"), "status: {status}");
    }

    // (a) The picture moves: two reads of the canvas differ.
    let checksum = |b: &Browser| -> Result<Value> {
        b.eval(
            "const c = document.getElementById('depth');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return h;",
            json!([]),
        )
    };
    let first = checksum(&browser)?;
    browser.wait_for("the picture to change", Duration::from_secs(5), |b| {
        Ok((checksum(b)? != first).then_some(()))
    })?;

    // The plain mock spans 500..=832 mm: fit the range to it, as a user would.
    set_range(&browser, 500, 850)?;
    let (col, row) = (300, 200);
    hover(&browser, col, row)?;
    browser.wait_for("the readout", Duration::from_secs(5), |b| {
        Ok(b.text("readout")?.starts_with("x ").then_some(()))
    })?;
    let drawn = Drawn::read(&browser)?;

    // The frame on the page is exactly one of the mock's known pictures.
    let mock = MockKinect::new(MockConfig::default());
    let matched = (0..MOCK_FRAMES_SEARCHED).find(|&sequence| {
        let frame = mock.frame(sequence);
        // What `depth` (sk2, lossy above 4095 mm) delivers; the plain mock never goes there.
        let delivered = sk2::encode(&frame)
            .ok()
            .and_then(|bytes| sk2::decode(&bytes, frame.width(), frame.height()).ok());
        delivered.is_some_and(|d| d.depth_mm() == drawn.depth.as_slice())
    });
    ensure!(
        matched.is_some(),
        "the page's frame is none of the mock's first {MOCK_FRAMES_SEARCHED}"
    );

    // (c) The readout names the pixel under the pointer and its depth.
    ensure!(
        drawn.pointer == (col, row),
        "pointer at {:?}, wanted {:?}",
        drawn.pointer,
        (col, row)
    );
    let value = drawn.depth[row * drawn.width + col];
    ensure!(
        drawn.readout == format!("x {col}, y {row}: {value} mm"),
        "readout {:?}, pixel holds {value} mm",
        drawn.readout
    );

    // (b) Pixels of known depth have the legend's colour for that depth, across the range.
    let mut distinct = std::collections::BTreeSet::new();
    for index in (0..drawn.depth.len()).step_by(997) {
        let depth = drawn.depth[index];
        let (drawn_rgb, legend_rgb) = (drawn.canvas_rgb(index), drawn.legend_rgb(depth));
        ensure!(
            close(drawn_rgb, legend_rgb),
            "pixel {index} ({depth} mm) drawn {drawn_rgb:?}, legend {legend_rgb:?}"
        );
        distinct.insert(drawn_rgb);
    }
    ensure!(
        distinct.len() > 10,
        "only {} colours: is the map applied?",
        distinct.len()
    );
    eprintln!("fps {fps:.1}; matched mock frame {matched:?}; status: {status}");
    Ok(())
}

#[test]
fn an_unreachable_server_is_reported_on_page_and_terminal_until_it_comes_up() -> Result<()> {
    if !browser_available(
        "an_unreachable_server_is_reported_on_page_and_terminal_until_it_comes_up",
    ) {
        return Ok(());
    }
    let port = sk2_testkit::free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let (viewer, url) = start_viewer(&["--connect", &endpoint, "--sensor", "nope"])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    let message = browser.wait_for("the unreachable message", PAGE_TIMEOUT, |b| {
        let text = b.text("message")?;
        Ok(text.contains("no answer").then_some(text))
    })?;
    ensure!(message.contains(&endpoint), "message: {message}");
    let stderr = viewer.stderr();
    ensure!(
        stderr.contains(&format!("no answer from {endpoint}; still trying")),
        "terminal: {stderr}"
    );

    // The server comes up on that port: the viewer, still trying, connects. The sensor asked for
    // with --sensor is not there, and both the page and the terminal say so.
    let port_arg = port.to_string();
    let server = start_mock_server(&["--name", "Late Mock", "--control-port", &port_arg])?;
    let message = browser.wait_for("the missing-sensor notice", PAGE_TIMEOUT, |b| {
        let text = b.text("message")?;
        Ok(text.contains("\"nope\" not found").then_some(text))
    })?;
    ensure!(message.contains(&server.devices[0]), "message: {message}");
    ensure!(
        viewer.stderr().contains("sensor \"nope\" not found"),
        "terminal: {}",
        viewer.stderr()
    );
    // Choosing the sensor the server has shows its frames.
    browser.eval(
        "const s = document.getElementById('source');
         const o = [...s.options].find((o) => o.text.startsWith('Late Mock'));
         s.value = o.value; s.dispatchEvent(new Event('change'));",
        json!([]),
    )?;
    wait_for_frames(&browser)?;
    ensure!(browser.text("status")?.contains("server Late Mock"));
    Ok(())
}

#[test]
fn screenshot_of_a_realistic_mock_for_the_docs() -> Result<()> {
    if !browser_available("screenshot_of_a_realistic_mock_for_the_docs") {
        return Ok(());
    }
    let server = start_mock_server(&["--name", "Kinect demo", "--mock-mode", "realistic"])?;
    let (_viewer, url) = start_viewer(&["--connect", &server.control])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    wait_for_frames(&browser)?;
    hover(&browser, 256, 300)?;
    // Holes (0 mm; the realistic mock has about 3 %) are drawn in the hole colour.
    let hole: Vec<u8> = serde_json::from_value(browser.eval(
        "const i = view.frame.depth.indexOf(0); if (i < 0) return [];
         const c = document.getElementById('depth');
         const d = c.getContext('2d').getImageData(i % c.width, Math.floor(i / c.width), 1, 1).data;
         return [d[0], d[1], d[2]];",
        json!([]),
    )?)?;
    ensure!(hole == [128, 128, 128], "hole drawn as {hole:?}");
    std::thread::sleep(Duration::from_millis(1500)); // let fps and latency settle
    let png = browser.screenshot()?;
    ensure!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kinect-view-mock.png");
    // Kept for a look (docs/kinect-view.png shows the default mock instead, as README starts it).
    std::fs::write(&path, &png)?;
    Ok(())
}

#[test]
fn the_selector_lists_servers_found_by_discovery_and_switches_between_them() -> Result<()> {
    // mDNS only inside a private network namespace, never on the host's network.
    if !sk2_testkit::in_private_netns(
        "the_selector_lists_servers_found_by_discovery_and_switches_between_them",
    ) {
        return Ok(());
    }
    if !browser_available("the_selector_lists_servers_found_by_discovery_and_switches_between_them")
    {
        return Ok(());
    }
    // Two servers, kept cheap (10 fps, RVL) since this test is about finding and switching.
    let cheap = ["--fps", "10", "--codec", "rvl"];
    let alpha = start_server_with(&[&["--name", "Alpha"][..], &cheap].concat())?;
    let beta = start_server_with(&[&["--name", "Beta"][..], &cheap].concat())?;
    // No --connect: kinect-view finds the servers with mDNS.
    let (viewer, url) = start_viewer(&[])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    let options = browser
        .wait_for("both servers in the selector", PAGE_TIMEOUT, |b| {
            let texts: Vec<String> = serde_json::from_value(b.eval(
                "return [...document.getElementById('source').options].map((o) => o.text);",
                json!([]),
            )?)?;
            let both = texts.iter().any(|t| t.starts_with("Alpha / "))
                && texts.iter().any(|t| t.starts_with("Beta / "));
            Ok(both.then_some(texts))
        })
        .with_context(|| format!("viewer stderr: {}", viewer.stderr()))?;
    // The list shows short ids: the first 8 hex digits.
    for device in [&alpha.devices[0], &beta.devices[0]] {
        ensure!(
            options
                .iter()
                .any(|t| t.contains(&format!(" / {} (", &device[..8]))),
            "{options:?}"
        );
        ensure!(
            !options.iter().any(|t| t.contains(device.as_str())),
            "{options:?}"
        );
    }
    for (name, device) in [("Beta", &beta.devices[0]), ("Alpha", &alpha.devices[0])] {
        browser.eval(
            "const s = document.getElementById('source');
             const o = [...s.options].find((o) => o.text.startsWith(arguments[0] + ' / '));
             s.value = o.value; s.dispatchEvent(new Event('change'));",
            json!([name]),
        )?;
        browser.wait_for("frames from the chosen server", PAGE_TIMEOUT, |b| {
            let status = b.text("status")?;
            Ok((status.contains(&format!("server {name} "))
                && status.contains(&format!("sensor {device} "))
                && status_fps(&status).is_some())
            .then_some(()))
        })?;
    }
    Ok(())
}

/// A server that crashes sends no mDNS goodbye; its record would linger for its 120 s TTL. The
/// viewer notices the dead connection, has mDNS re-verify the server, and drops it from its list
/// within seconds.
#[test]
fn a_crashed_server_disappears_from_the_list() -> Result<()> {
    // mDNS only inside a private network namespace, never on the host's network.
    if !sk2_testkit::in_private_netns("a_crashed_server_disappears_from_the_list") {
        return Ok(());
    }
    let server = start_server_with(&["--name", "Crashing", "--fps", "10", "--codec", "rvl"])?;
    // No --connect: kinect-view finds the server with mDNS.
    let (viewer, url) = start_viewer(&[])?;
    let listed = || -> Result<bool> {
        let state: Value = ureq::get(format!("{url}api/state"))
            .call()?
            .body_mut()
            .read_json()?;
        Ok(state["servers"]
            .as_array()
            .is_some_and(|servers| servers.iter().any(|s| s["name"] == "Crashing")))
    };
    let deadline = std::time::Instant::now() + PAGE_TIMEOUT;
    while !listed()? {
        ensure!(
            std::time::Instant::now() < deadline,
            "the server was never listed; viewer stderr: {}",
            viewer.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let crashed = std::time::Instant::now();
    drop(server); // SIGKILL: no goodbye
    while listed()? {
        ensure!(
            crashed.elapsed() < Duration::from_secs(20),
            "the crashed server stayed listed; viewer stderr: {}",
            viewer.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("crashed server dropped after {:?}", crashed.elapsed());
    Ok(())
}

#[test]
fn infrared_and_colour_of_the_mock_appear_beside_depth() -> Result<()> {
    if !browser_available("infrared_and_colour_of_the_mock_appear_beside_depth") {
        return Ok(());
    }
    let server = start_mock_server(&["--name", "Streams", "--fps", "10"])?;
    let (viewer, url) = start_viewer(&["--connect", &server.control])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    // Both figures are hidden until their first image has been drawn.
    let shown = browser.wait_for("infrared and colour on the page", PAGE_TIMEOUT, |b| {
        let state = b.eval(
            "const ir = document.getElementById('ir'); const img = document.getElementById('color');
             return {ir: !document.getElementById('ir-view').hidden, irWidth: ir.width,
                     color: !document.getElementById('color-view').hidden,
                     colorWidth: img.naturalWidth, colorHeight: img.naturalHeight};",
            json!([]),
        )?;
        let both = state["ir"] == true && state["color"] == true && state["colorWidth"] != 0;
        Ok(both.then_some(state))
    });
    let shown = shown.with_context(|| format!("viewer stderr: {}", viewer.stderr()))?;
    ensure!(shown["irWidth"] == 512, "{shown}");
    ensure!(
        shown["colorWidth"] == 1920 && shown["colorHeight"] == 1080,
        "{shown}"
    );
    // The mock lights its scene: the infrared picture is not one flat grey.
    let spread = browser.eval(
        "const c = document.getElementById('ir'); const d = c.getContext('2d')
           .getImageData(0, 0, c.width, c.height).data;
         let low = 255, high = 0;
         for (let i = 0; i < d.length; i += 4) { low = Math.min(low, d[i]); high = Math.max(high, d[i]); }
         return high - low;",
        json!([]),
    )?;
    ensure!(
        spread.as_i64().unwrap_or(0) > 50,
        "infrared spread {spread}"
    );
    Ok(())
}
