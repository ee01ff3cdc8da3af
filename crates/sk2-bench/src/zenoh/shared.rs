//! What the Zenoh roles share with the orchestrator, with or without the `zenoh` feature: the
//! server id the bench's bridge publishes under, and the fan-out measurement's rows and table.

/// The server id the bench's bridge publishes under.
pub const BENCH_SERVER_ID: &str = "bench";

/// One measured fan-out configuration.
#[derive(Debug, Clone)]
pub struct FanoutRow {
    /// Subscribers reading the stream.
    pub subscribers: usize,
    /// Through a router (`true`), or each subscriber a peer of the bridge.
    pub through_router: bool,
    /// Frames the sensor published during the window (widest sequence range seen).
    pub frames: u64,
    /// Bytes the server process sent on TCP during the window.
    pub server_bytes: u64,
    /// Frames the slowest subscriber decoded per second.
    pub fps_min: f64,
}

impl FanoutRow {
    /// Bytes the server sent per published frame.
    pub fn bytes_per_frame(&self) -> f64 {
        self.server_bytes as f64 / (self.frames.max(1)) as f64
    }
}

/// The fan-out rows as a Markdown table, each row's bytes also as a ratio to the one-subscriber
/// row of the same path.
pub fn fanout_table(rows: &[FanoutRow]) -> String {
    let mut out = String::from(
        "| path | subscribers | frames | server bytes sent | bytes/frame (x one subscriber) | fps (slowest sub) |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let one = rows
            .iter()
            .find(|o| o.through_router == row.through_router && o.subscribers == 1)
            .map(FanoutRow::bytes_per_frame);
        let ratio = one
            .filter(|one| *one > 0.0)
            .map(|one| format!(" ({:.2}x)", row.bytes_per_frame() / one))
            .unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0}{ratio} | {:.1} |\n",
            if row.through_router {
                "bridge -> router -> subscribers"
            } else {
                "bridge -> subscribers (peers)"
            },
            row.subscribers,
            row.frames,
            row.server_bytes,
            row.bytes_per_frame(),
            row.fps_min,
        ));
    }
    out
}
