//! [`SyntheticSource`]: a made-up sensor with a known picture, for tests, demos and for trying
//! the page without a server (`kinect-view --synthetic`).
//!
//! The picture, 512 x 424 like a Kinect v2 frame:
//!
//! ```text
//!  col 0                                                            col 511
//!  +----------------------------------------------------------------+
//!  |  [ KNOWN_PATCH 1500 mm ]   [ HOLE_PATCH 0 ]                     |  background: a ramp,
//!  |                                                                 |  500 mm at col 0 to
//!  |          |MOVING_BAR 1000 mm|  --> moves 8 px per frame          |  4500 mm at col 511
//!  +----------------------------------------------------------------+
//! ```

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use sk2_proto::DepthFrame;

use crate::hub::{FrameSource, Hub, SourceFrame, SourceKey};

/// A rectangle of the synthetic picture with one depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// First row.
    pub row: usize,
    /// First column.
    pub col: usize,
    /// Rows.
    pub height_px: usize,
    /// Columns.
    pub width_px: usize,
    /// Depth of every pixel in it.
    pub depth_mm: u16,
}

impl Patch {
    fn contains(&self, row: usize, col: usize) -> bool {
        (self.row..self.row + self.height_px).contains(&row)
            && (self.col..self.col + self.width_px).contains(&col)
    }
}

/// Width of the synthetic picture (Kinect v2's).
pub const WIDTH_PX: usize = sk2_proto::KINECT_V2_WIDTH_PX;
/// Height of the synthetic picture (Kinect v2's).
pub const HEIGHT_PX: usize = sk2_proto::KINECT_V2_HEIGHT_PX;
/// Background depth at column 0; it grows linearly to [`RAMP_FAR_MM`] at the last column.
pub const RAMP_NEAR_MM: u16 = 500;
/// Background depth at the last column.
pub const RAMP_FAR_MM: u16 = 4500;
/// A still rectangle of known depth.
pub const KNOWN_PATCH: Patch = Patch {
    row: 40,
    col: 40,
    height_px: 80,
    width_px: 120,
    depth_mm: 1500,
};
/// A still rectangle with no measurement (depth 0).
pub const HOLE_PATCH: Patch = Patch {
    row: 40,
    col: 200,
    height_px: 80,
    width_px: 120,
    depth_mm: 0,
};
/// The bar that moves, at frame 0; it moves [`BAR_STEP_PX`] columns right per frame, wrapping.
pub const MOVING_BAR: Patch = Patch {
    row: 280,
    col: 0,
    height_px: 100,
    width_px: 40,
    depth_mm: 1000,
};
/// Columns the bar moves per frame.
pub const BAR_STEP_PX: usize = 8;

/// The synthetic picture at frame `sequence`.
pub fn picture(sequence: u64) -> DepthFrame {
    with_bar(still_picture(), sequence)
}

/// The picture without the moving bar.
fn still_picture() -> DepthFrame {
    let mut depth_mm = Vec::with_capacity(WIDTH_PX * HEIGHT_PX);
    for row in 0..HEIGHT_PX {
        for col in 0..WIDTH_PX {
            let value = if KNOWN_PATCH.contains(row, col) {
                KNOWN_PATCH.depth_mm
            } else if HOLE_PATCH.contains(row, col) {
                HOLE_PATCH.depth_mm
            } else {
                ramp_mm(col)
            };
            depth_mm.push(value);
        }
    }
    // Cannot fail: the buffer was filled with exactly WIDTH_PX * HEIGHT_PX values.
    DepthFrame::new(WIDTH_PX, HEIGHT_PX, depth_mm).expect("synthetic picture has its own shape")
}

/// `still` with the bar painted where it is at frame `sequence`.
fn with_bar(mut still: DepthFrame, sequence: u64) -> DepthFrame {
    let bar_col = (sequence % WIDTH_PX as u64) as usize * BAR_STEP_PX % WIDTH_PX;
    let bar_end = (bar_col + MOVING_BAR.width_px).min(WIDTH_PX);
    let pixels = still.depth_mm_mut();
    for row in MOVING_BAR.row..MOVING_BAR.row + MOVING_BAR.height_px {
        pixels[row * WIDTH_PX + bar_col..row * WIDTH_PX + bar_end].fill(MOVING_BAR.depth_mm);
    }
    still
}

/// The background depth at column `col`.
pub fn ramp_mm(col: usize) -> u16 {
    let span = usize::from(RAMP_FAR_MM - RAMP_NEAR_MM);
    RAMP_NEAR_MM + (col * span / (WIDTH_PX - 1)) as u16
}

/// A source with one server and one sensor streaming [`picture`] at a fixed rate.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    /// The server name it reports.
    pub server: String,
    /// The sensor id it reports.
    pub sensor: String,
    /// Frames per second.
    pub fps: f64,
}

impl Default for SyntheticSource {
    fn default() -> Self {
        Self {
            server: "synthetic".to_owned(),
            sensor: "5e7a0000000000000000000000000001".to_owned(),
            fps: 30.0,
        }
    }
}

/// The codec name the synthetic source reports: its frames are never encoded.
pub const SYNTHETIC_CODEC: &str = "none (synthetic)";

impl FrameSource for SyntheticSource {
    fn run(self: Box<Self>, hub: Hub, shutdown: Receiver<()>) {
        let key = SourceKey::new(self.server.clone(), self.sensor.clone());
        hub.server_seen(&self.server, "synthetic:");
        hub.set_sensors(
            &self.server,
            &[(self.sensor.clone(), SYNTHETIC_CODEC.to_owned())],
        );
        let period = Duration::from_secs_f64(1.0 / self.fps.clamp(0.1, 1000.0));
        let mut sequence = 0u64;
        let mut next = std::time::Instant::now();
        // Built once: only the bar changes, so each frame is a copy plus a little painting.
        let still = still_picture();
        loop {
            let captured_ns = sk2_proto::sensor::unix_time_ns();
            let depth = with_bar(still.clone(), sequence);
            // Made here and handed over at once: the latency is the painting time, nothing lost.
            let latency = sk2_proto::sensor::unix_time_ns().saturating_sub(captured_ns);
            hub.publish(
                &key,
                SourceFrame {
                    depth,
                    sensor_sequence: Some(sequence),
                    capture_time_ns: Some(captured_ns),
                    latency: Some(Duration::from_nanos(latency)),
                    lost: 0,
                },
            );
            sequence += 1;
            next += period;
            let now = std::time::Instant::now();
            if next < now {
                // Fell behind (busy machine): skip ahead like a camera, never burst to catch up.
                next = now;
            }
            let wait = next.saturating_duration_since(now);
            match shutdown.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                // Disconnected (or an explicit message): stop.
                _ => break,
            }
        }
        hub.server_gone(&self.server);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_has_its_patches_and_ramp_where_documented() {
        let frame = picture(0);
        assert_eq!(frame.at(KNOWN_PATCH.row, KNOWN_PATCH.col), Some(1500));
        assert_eq!(frame.at(HOLE_PATCH.row + 1, HOLE_PATCH.col + 1), Some(0));
        assert_eq!(frame.at(MOVING_BAR.row, 0), Some(1000));
        assert_eq!(frame.at(0, 0), Some(RAMP_NEAR_MM));
        assert_eq!(frame.at(0, WIDTH_PX - 1), Some(RAMP_FAR_MM));
        let later = picture(3);
        assert_eq!(later.at(MOVING_BAR.row, 3 * BAR_STEP_PX), Some(1000));
        assert_ne!(frame, later);
    }
}
