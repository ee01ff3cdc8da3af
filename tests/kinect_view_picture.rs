//! End-to-end: what a newcomer sees first. `kinect-server` with its default mock (no flags but
//! the loopback ones), `kinect-view` connected to it, the page in a real headless Chromium: the
//! automatic range must spread the mock's 500-832 mm over most of the colour map, so the sphere
//! stands out from the wall. Needs Debian's `chromium` and `chromium-driver`.

use crate::browser;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use browser::{browser_available, start_mock_server, start_viewer, Browser};
use serde_json::json;

/// Time allowed for the page to show frames (cold Chromium and a busy CI machine are slow).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Smallest spread of hues (degrees between the 5th and 95th percentile of the drawn pixels'
/// hues) of a picture that uses a wide part of the colour map. Turbo runs from violet (about 290
/// degrees) through blue, cyan, green and yellow to red (about 10 degrees): a picture spread over
/// the map covers well over 150 degrees, while the mock on the old fixed 500-4500 mm range covers
/// only the violet-to-blue first 8 % of the map, about 50 degrees.
const WIDE_HUE_SPREAD_DEG: f64 = 120.0;

/// The hues of the depth canvas's coloured pixels (holes are grey, without hue), as counts per
/// degree, read in the page with `getImageData`.
fn hue_histogram(browser: &Browser) -> Result<Vec<u64>> {
    let value = browser.eval(
        "const c = document.getElementById('depth');
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         const counts = new Array(360).fill(0);
         for (let i = 0; i < d.length; i += 4) {
           const r = d[i] / 255, g = d[i + 1] / 255, b = d[i + 2] / 255;
           const max = Math.max(r, g, b), min = Math.min(r, g, b), chroma = max - min;
           if (chroma < 0.05) continue; // grey: a hole
           let h;
           if (max === r) h = ((g - b) / chroma + 6) % 6;
           else if (max === g) h = (b - r) / chroma + 2;
           else h = (r - g) / chroma + 4;
           counts[Math.floor(h * 60) % 360]++;
         }
         return counts;",
        json!([]),
    )?;
    Ok(serde_json::from_value(value)?)
}

/// Degrees between the 5th and the 95th percentile hue of `counts`. Turbo's hues never wrap
/// past 360 (its red end stays above 0 degrees), so a plain percentile is the spread.
fn hue_spread(counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let percentile = |fraction: f64| {
        let wanted = (fraction * total as f64) as u64;
        let mut seen = 0;
        counts
            .iter()
            .position(|&count| {
                seen += count;
                seen > wanted
            })
            .unwrap_or(counts.len() - 1)
    };
    Some((percentile(0.95) - percentile(0.05)) as f64)
}

/// The spread once the picture has settled: read until two reads a moment apart agree within a
/// few degrees (the automatic range follows the swinging sphere slowly, by design).
fn settled_hue_spread(browser: &Browser) -> Result<f64> {
    let mut last: Option<f64> = None;
    browser.wait_for("a settled picture", PAGE_TIMEOUT, |b| {
        let spread = hue_spread(&hue_histogram(b)?);
        let settled = match (last, spread) {
            (Some(previous), Some(now)) => (now - previous).abs() <= 10.0,
            _ => false,
        };
        last = spread;
        std::thread::sleep(Duration::from_millis(300));
        Ok(settled.then_some(spread).flatten())
    })
}

fn status_fps(status: &str) -> Option<f64> {
    let end = status.find(" fps")?;
    status[..end].rsplit(' ').next()?.parse().ok()
}

#[test]
fn the_default_mock_is_drawn_over_a_wide_part_of_the_colour_map() -> Result<()> {
    if !browser_available("the_default_mock_is_drawn_over_a_wide_part_of_the_colour_map") {
        return Ok(());
    }
    // The server as README starts it (default name, default mock), kept off the network.
    let server = start_mock_server(&[])?;
    let (viewer, url) = start_viewer(&["--connect", &server.control])?;
    let browser = Browser::start()?;
    browser.open(&url)?;
    browser
        .wait_for("frames", PAGE_TIMEOUT, |b| {
            Ok(status_fps(&b.text("status")?).map(drop))
        })
        .with_context(|| format!("viewer stderr: {}", viewer.stderr()))?;
    let status = browser.text("status")?;
    ensure!(status.contains("server Kinect on "), "status: {status}");

    // The picture first: what a newcomer sees.
    let auto_spread = settled_hue_spread(&browser)?;
    eprintln!("default range: hues spread over {auto_spread} degrees");
    ensure!(
        auto_spread >= WIDE_HUE_SPREAD_DEG,
        "the automatic range draws the default mock with hues over only {auto_spread} degrees \
         (wanted at least {WIDE_HUE_SPREAD_DEG}): a flat picture"
    );

    // Automatic by default, and the legend says which range is in use: inside the mock's depths.
    // Read together: the range follows the swinging sphere.
    let (range, legend): (Vec<f64>, String) = serde_json::from_value(browser.eval(
        "return [[view.near, view.far], document.getElementById('legend-range').textContent];",
        json!([]),
    )?)?;
    ensure!(legend.contains("automatic"), "legend: {legend}");
    ensure!(
        (500.0..=832.0).contains(&range[0]) && (500.0..=832.0).contains(&range[1]),
        "automatic range {range:?} is not within the mock's 500-832 mm"
    );
    ensure!(
        legend.contains(&format!("{}\u{2013}{} mm", range[0], range[1])),
        "legend {legend:?} does not show the range in use {range:?}"
    );

    // The fixed range stays a choice, and the measure tells a flat picture apart: the old
    // default range of 500-4500 mm draws the same scene in a narrow band of hues.
    browser.eval(
        "const m = document.getElementById('range-mode');
         m.value = 'fixed'; m.dispatchEvent(new Event('change'));
         for (const [id, v] of [['near', 500], ['far', 4500]]) {
           const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('input'));
         }",
        json!([]),
    )?;
    let legend = browser.text("legend-range")?;
    ensure!(
        legend.contains("500\u{2013}4500 mm, fixed"),
        "legend: {legend}"
    );
    let fixed_spread = settled_hue_spread(&browser)?;
    eprintln!("fixed 500-4500 mm: hues spread over {fixed_spread} degrees");
    ensure!(
        fixed_spread < WIDE_HUE_SPREAD_DEG,
        "the fixed 500-4500 mm range spreads the mock over {fixed_spread} degrees: \
         the measure cannot tell a flat picture"
    );
    Ok(())
}

#[test]
fn hue_spread_is_the_width_between_the_5th_and_95th_percentile() {
    let mut counts = vec![0; 360];
    counts[10] = 10;
    counts[100] = 80;
    counts[250] = 10;
    assert_eq!(hue_spread(&counts), Some(240.0));
    counts[10] = 1;
    counts[250] = 1;
    assert_eq!(hue_spread(&counts), Some(0.0));
    assert_eq!(hue_spread(&[0; 360]), None);
}
