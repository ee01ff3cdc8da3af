//! End-to-end: `kinect-view` serving a sensor with a known picture, checked in a real headless
//! Chromium. Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

use crate::browser;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use browser::{browser_available, start_viewer, Browser};
use serde_json::{json, Value};
use sk2_view::synthetic::{self, HOLE_PATCH, KNOWN_PATCH, MOVING_BAR};

/// The fps a tab may show for a 30 fps sensor: never above the sensor's rate (with rounding and
/// timer jitter), and not near zero; the lower bound leaves room for a starved CI machine, where a
/// tab draws slowly and (correctly) skips frames.
const PLAUSIBLE_FPS: std::ops::RangeInclusive<f64> = 3.0..=36.0;

/// Time allowed for the page to show its first frames (a cold Chromium start is slow on CI).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The colour at (`x`, `y`) of canvas `id`, as `[r, g, b]`.
fn pixel(browser: &Browser, id: &str, x: usize, y: usize) -> Result<[i64; 3]> {
    let value = browser.eval(
        "const c = document.getElementById(arguments[0]);
         const d = c.getContext('2d').getImageData(arguments[1], arguments[2], 1, 1).data;
         return [d[0], d[1], d[2]];",
        json!([id, x, y]),
    )?;
    let rgb: Vec<i64> = serde_json::from_value(value)?;
    Ok([rgb[0], rgb[1], rgb[2]])
}

/// A checksum of the depth canvas's pixels, to see whether the picture changed.
fn canvas_checksum(browser: &Browser) -> Result<i64> {
    browser
        .eval(
            "const c = document.getElementById('depth');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let h = 0; for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) | 0;
             return h;",
            json!([]),
        )?
        .as_i64()
        .context("checksum is a number")
}

/// The fps figure in the status line, if there is one yet.
fn status_fps(status: &str) -> Option<f64> {
    let end = status.find(" fps")?;
    status[..end].rsplit(' ').next()?.parse().ok()
}

/// The legend colour the page should use for `depth_mm`: the legend canvas is one pixel per
/// colour of the map, from near (left) to far (right).
fn legend_colour(browser: &Browser, depth_mm: u16) -> Result<[i64; 3]> {
    let near: f64 = browser
        .eval(
            "return Number(document.getElementById('near').value);",
            json!([]),
        )?
        .as_f64()
        .context("near")?;
    let far: f64 = browser
        .eval(
            "return Number(document.getElementById('far').value);",
            json!([]),
        )?
        .as_f64()
        .context("far")?;
    let width = browser
        .eval(
            "return document.getElementById('legend-bar').width;",
            json!([]),
        )?
        .as_f64()
        .context("legend width")?;
    let t = ((f64::from(depth_mm) - near) / (far - near)).clamp(0.0, 1.0);
    pixel(
        browser,
        "legend-bar",
        (t * (width - 1.0)).round() as usize,
        0,
    )
}

fn close(a: [i64; 3], b: [i64; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 3)
}

/// Moves the mouse over image pixel (`col`, `row`) and returns the readout text once it names it.
fn hover(browser: &Browser, col: usize, row: usize) -> Result<String> {
    let rect: Value = browser.eval(
        "const c = document.getElementById('depth'); const r = c.getBoundingClientRect();
         return [r.left, r.top, r.width / c.width, r.height / c.height];",
        json!([]),
    )?;
    let rect: Vec<f64> = serde_json::from_value(rect)?;
    let x = (rect[0] + (col as f64 + 0.5) * rect[2]).round() as i64;
    let y = (rect[1] + (row as f64 + 0.5) * rect[3]).round() as i64;
    browser.move_mouse(x, y)?;
    browser.wait_for("the hover readout", Duration::from_secs(5), |b| {
        let text = b.text("readout")?;
        Ok(text.starts_with("x ").then_some(text))
    })
}

/// Reads "x C, y R: V mm" into (C, R, V).
fn parse_readout(text: &str) -> Option<(usize, usize, u16)> {
    let rest = text.strip_prefix("x ")?;
    let (col, rest) = rest.split_once(", y ")?;
    let (row, rest) = rest.split_once(": ")?;
    let value = rest.strip_suffix(" mm")?;
    Some((col.parse().ok()?, row.parse().ok()?, value.parse().ok()?))
}

#[test]
fn the_page_shows_the_live_picture_with_legend_colours_hover_depth_and_fps() -> Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let (viewer, url) = start_viewer(&["--synthetic", "--synthetic-fps", "30"])?;
    let browser = Browser::start()?;
    browser.open(&url)?;

    // (d) The status line reaches a plausible fps for a 30 fps sensor.
    let fps = browser.wait_for("a plausible fps", PAGE_TIMEOUT, |b| {
        Ok(status_fps(&b.text("status")?).filter(|fps| PLAUSIBLE_FPS.contains(fps)))
    });
    let fps = fps.with_context(|| format!("viewer stderr: {}", viewer.stderr()))?;
    let status = browser.text("status")?;
    ensure!(status.contains("server synthetic"), "status: {status}");
    ensure!(
        status.contains("codec none (synthetic)"),
        "status: {status}"
    );
    // The synthetic source stamps capture times, so the end-to-end latency is known; on one
    // machine it is well under a second.
    let latency_ms: f64 = status
        .split(" \u{b7} ")
        .find_map(|part| {
            part.strip_prefix("latency ")?
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .with_context(|| format!("no latency in {status:?}"))?;
    ensure!((0.0..1000.0).contains(&latency_ms), "status: {status}");

    // (a) The image updates: the moving bar makes two reads differ.
    let first = canvas_checksum(&browser)?;
    browser.wait_for("the picture to change", Duration::from_secs(5), |b| {
        Ok((canvas_checksum(b)? != first).then_some(()))
    })?;

    // (b) A pixel of known depth has the legend's colour for that depth; a hole is grey; and
    // ramp pixels of different depths match their own legend colours.
    let patch = pixel(&browser, "depth", KNOWN_PATCH.col + 5, KNOWN_PATCH.row + 5)?;
    let expected = legend_colour(&browser, KNOWN_PATCH.depth_mm)?;
    ensure!(
        close(patch, expected),
        "1500 mm drawn as {patch:?}, legend says {expected:?}"
    );
    let hole = pixel(&browser, "depth", HOLE_PATCH.col + 5, HOLE_PATCH.row + 5)?;
    ensure!(hole == [128, 128, 128], "hole drawn as {hole:?}");
    for col in [10, 250, 500] {
        let drawn = pixel(&browser, "depth", col, 2)?;
        let expected = legend_colour(&browser, synthetic::ramp_mm(col))?;
        ensure!(
            close(drawn, expected),
            "ramp col {col}: {drawn:?} vs legend {expected:?}"
        );
    }
    ensure!(
        !close(patch, pixel(&browser, "depth", 500, 2)?),
        "near and far look alike"
    );

    // (c) The hover readout gives the depth under the pointer.
    let text = hover(&browser, KNOWN_PATCH.col + 60, KNOWN_PATCH.row + 40)?;
    let (_, _, value) = parse_readout(&text).with_context(|| format!("readout {text:?}"))?;
    ensure!(value == KNOWN_PATCH.depth_mm, "readout {text:?}");
    let text = hover(&browser, 400, MOVING_BAR.row - 20)?;
    let (col, row, value) = parse_readout(&text).with_context(|| format!("readout {text:?}"))?;
    ensure!(row < MOVING_BAR.row, "readout {text:?}");
    ensure!(
        value == synthetic::ramp_mm(col),
        "readout {text:?}: ramp at {col} is {}",
        synthetic::ramp_mm(col)
    );

    // A screenshot for the docs, pointing at the known patch so the readout shows.
    hover(&browser, KNOWN_PATCH.col + 60, KNOWN_PATCH.row + 40)?;
    let png = browser.screenshot()?;
    ensure!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kinect-view.png"),
        &png,
    )?;
    if std::env::var_os("SK2_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/kinect-view.png"),
            &png,
        )?;
    }
    eprintln!("fps {fps:.1}; status: {}", browser.text("status")?);
    Ok(())
}

#[test]
fn an_unknown_sensor_is_explained_on_the_page_and_terminal_until_a_known_one_is_chosen(
) -> Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let (viewer, url) = start_viewer(&["--synthetic"])?;
    let browser = Browser::start()?;
    browser.open(&format!("{url}#server=synthetic&sensor=nope"))?;
    let message = browser.wait_for("the unknown-sensor message", PAGE_TIMEOUT, |b| {
        let text = b.text("message")?;
        Ok(text.contains("not found").then_some(text))
    })?;
    ensure!(
        message.contains("sensor \"nope\" not found on server \"synthetic\""),
        "message: {message}"
    );
    ensure!(
        viewer
            .stderr()
            .contains("sensor \"nope\" not found on server \"synthetic\""),
        "terminal: {}",
        viewer.stderr()
    );
    // Choosing the real sensor in the selector clears the message and shows frames.
    browser.eval(
        "const s = document.getElementById('source');
         const o = [...s.options].find((o) => !o.text.includes('not found'));
         s.value = o.value; s.dispatchEvent(new Event('change'));",
        json!([]),
    )?;
    browser.wait_for("frames after choosing a known sensor", PAGE_TIMEOUT, |b| {
        let hidden = b.eval(
            "return document.getElementById('message').hidden;",
            json!([]),
        )?;
        Ok((hidden == true && status_fps(&b.text("status")?).is_some()).then_some(()))
    })?;
    Ok(())
}

#[test]
fn several_tabs_all_stream_and_closing_them_frees_the_viewers_requests() -> Result<()> {
    if !browser_available() {
        return Ok(());
    }
    // A slow stream (4 fps), so that each tab spends most of its time waiting for the next frame
    // in a request of its own, even on a busy machine where drawing is slow.
    let (viewer, url) = start_viewer(&["--synthetic", "--synthetic-fps", "4"])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    let mut extra = Vec::new();
    for _ in 0..3 {
        let handle = browser.new_window()?;
        browser.switch_to(&handle)?;
        browser.open(&url)?;
        extra.push(handle);
    }
    // Every window shows a live stream at a plausible rate.
    for handle in &extra {
        browser.switch_to(handle)?;
        browser
            .wait_for("a plausible fps in every window", PAGE_TIMEOUT, |b| {
                Ok(status_fps(&b.text("status")?).filter(|fps| (2.0..=6.0).contains(fps)))
            })
            .with_context(|| format!("viewer stderr: {}", viewer.stderr()))?;
    }
    let state = browser.fetch_json(&format!("{url}api/state"))?;
    let served_before = state["web"]["frames_served"]
        .as_u64()
        .context("frames_served")?;
    // Each open tab holds at most one request (plus the one asking for the state).
    ensure!(
        state["web"]["in_flight"].as_u64() <= Some(5),
        "state: {state}"
    );
    // The four tabs do hold requests (so the drop below means something): most of the time
    // each one is waiting for its next frame.
    browser.wait_for(
        "four tabs' requests at once",
        Duration::from_secs(10),
        |b| {
            let state = b.fetch_json(&format!("{url}api/state"))?;
            Ok((state["web"]["in_flight"].as_u64() >= Some(4)).then_some(()))
        },
    )?;
    for handle in &extra {
        browser.switch_to(handle)?;
        browser.close_window()?;
    }
    // Once the closed tabs' last requests end (within the 1 s long-poll timeout), only the
    // remaining tab's request and ours are left, and frames are still served to it.
    browser.wait_for(
        "the closed tabs' requests to end",
        Duration::from_secs(5),
        |b| {
            let state = b.fetch_json(&format!("{url}api/state"))?;
            Ok((state["web"]["in_flight"].as_u64() <= Some(2)).then_some(()))
        },
    )?;
    let state = browser.fetch_json(&format!("{url}api/state"))?;
    ensure!(
        state["web"]["frames_served"].as_u64() > Some(served_before),
        "state: {state}"
    );
    Ok(())
}
