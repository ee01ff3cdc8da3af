//! Turns a live sensor's depth frames into 3-D point clouds, coloured when the sensor streams
//! colour, using the calibration the server sends in `me`, and prints a summary of each: how many
//! points, their extent in metres, their centroid, and how many have a colour.
//!
//! ```text
//! cargo run --release --bin kinect-server -- --no-announce --bind tcp://127.0.0.1:5555 &
//! cargo run --release --example point_cloud -- --connect tcp://127.0.0.1:5555 --frames 5
//! ```

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ndarray::{Array2, Axis};
use sk2_client::{Client, ClientConfig};
use sk2_proto::registration::Registration;

#[derive(Parser, Debug)]
struct Args {
    /// The server's control endpoint.
    #[arg(long, value_name = "tcp://host:port")]
    connect: String,
    /// The sensor; without it, the server's first.
    #[arg(long)]
    sensor: Option<String>,
    /// How many depth frames to turn into clouds.
    #[arg(long, default_value_t = 3)]
    frames: usize,
    /// Ignore the colour stream even if the sensor has one.
    #[arg(long)]
    no_color: bool,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("point_cloud: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let client = Client::connect_blocking(
        &args.connect,
        ClientConfig::default(),
        Duration::from_secs(5),
    )?;
    let me = client.me().context("connected without a `me`")?;
    let device = match &args.sensor {
        Some(id) => me.device(id).with_context(|| format!("no sensor {id}"))?,
        None => me.devices.first().context("the server has no sensors")?,
    };
    let calibration = client
        .calibration(&device.id)
        .context("the server sends no calibration for this sensor (a 2014 server?)")?;
    let depth = client.subscribe(&device.id)?;
    let color = match args.no_color {
        true => None,
        false => client.subscribe_color(&device.id).ok(),
    };
    let mut registration: Option<Registration> = None;
    for _ in 0..args.frames {
        let frame = depth
            .recv_timeout(Duration::from_secs(5))
            .context("no depth frame within 5 s")?;
        let (width, height) = (frame.depth.width(), frame.depth.height());
        if registration.as_ref().map(Registration::shape) != Some((width, height)) {
            registration = Some(Registration::new(&calibration, width, height)?);
        }
        // Cannot be None: set just above.
        let registration = registration.as_ref().expect("registration was just built");
        let newest_color = color.as_ref().and_then(|color| {
            let mut newest = color.recv_timeout(Duration::from_secs(1));
            while let Some(newer) = color.try_recv() {
                newest = Some(newer);
            }
            newest
        });
        let sequence = frame.sequence().map_or("-".to_owned(), |s| s.to_string());
        match newest_color {
            Some(color_frame) => {
                let cloud =
                    registration.colored_point_cloud(&frame.depth, color_frame.rgb.view())?;
                let colored = cloud.has_color().iter().filter(|&&seen| seen).count();
                println!(
                    "depth #{sequence} + colour #{}: {}, {colored} with colour",
                    color_frame.header.sequence,
                    summary(cloud.points())
                );
            }
            None => {
                let cloud = registration.point_cloud(&frame.depth)?;
                println!("depth #{sequence}: {}", summary(cloud.points()));
            }
        }
    }
    if depth.stats().decode_errors > 0 {
        bail!(
            "{} depth frames could not be decoded",
            depth.stats().decode_errors
        );
    }
    Ok(())
}

/// Count, extent and centroid of `N x 3` points.
fn summary(points: &Array2<f32>) -> String {
    if points.nrows() == 0 {
        return "0 points".to_owned();
    }
    let axis = |column: usize| {
        let values = points.column(column);
        let low = values.iter().copied().fold(f32::INFINITY, f32::min);
        let high = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        format!("{low:+.3}..{high:+.3}")
    };
    // Cannot be None: there is at least one row.
    let centroid = points.mean_axis(Axis(0)).expect("at least one point");
    format!(
        "{} points, x {} m, y {} m, z {} m, centroid ({:+.3}, {:+.3}, {:+.3}) m",
        points.nrows(),
        axis(0),
        axis(1),
        axis(2),
        centroid[0],
        centroid[1],
        centroid[2]
    )
}
