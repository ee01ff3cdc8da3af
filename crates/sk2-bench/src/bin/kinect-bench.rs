//! `kinect-bench`: end-to-end latency, throughput, capacity and slow-subscriber figures on
//! loopback, with a raw libzmq baseline in the same run. `--quick` takes a few seconds (CI);
//! the default (full) mode takes several minutes. See docs/performance.md.
//!
//! SIGINT, SIGTERM or SIGHUP stops a run within a fraction of a second: the current scenario's
//! processes are stopped and reaped, the table of the scenarios already finished is printed, and
//! the exit status is 130.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sk2_bench::frames::Input;
use sk2_bench::harness::{self, Interrupted, Outcome, Scenario};
use sk2_bench::roles::{self, Stack};

#[derive(Parser, Debug)]
#[command(
    name = "kinect-bench",
    version,
    about = "End-to-end benchmark of streamkinect2 on loopback"
)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    /// Short windows and fewer subscribers: a few seconds in all, for CI.
    #[arg(long)]
    quick: bool,
    /// Stacks to measure besides the `raw` baseline, comma-separated: `server-sk2` (sk2-server
    /// and sk2-client on the original `depth` endpoint), `server-v2-<codec>` (the same on
    /// `depth_v2`), `sk2-pub` and `v2-<codec>-pub` (the codec alone over plain PUB/SUB); the
    /// mock's infrared as `server-ir-<codec>` (on `ir_v2`) and `ir-<codec>-pub`, its 1080p JPEG
    /// colour as `server-color` (passed through on `color`) and `color-pub`; codecs: raw, rvl,
    /// medans, medhuf. Default: all but `v2-raw` and `ir-raw-pub`; quick:
    /// server-sk2,server-v2-medhuf. The IR and colour stacks run on the mock input only.
    #[arg(long, value_delimiter = ',')]
    stacks: Option<Vec<Stack>>,
    /// Offered frame rate of the throughput scenario, frames/s; 0 = as fast as the producer goes
    /// (which, on 2 cores, takes a core from the consumer). The default is twice the 1000 fps
    /// target, so a stack that keeps up shows ~2000 and one that cannot shows its ceiling.
    #[arg(long, default_value_t = 2000.0)]
    max_fps: f64,
    /// Also replay the Kinect v2 frames of this directory (latency and throughput scenarios).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Measurement window of each scenario, s (default: 10, quick: 0.5).
    #[arg(long)]
    window_seconds: Option<f64>,
    /// Window of the stalled-subscriber scenario, s (default: 60, quick: 1).
    #[arg(long)]
    stall_seconds: Option<f64>,
    /// Subscriber counts of the latency scenario, one run each. Default: 1,10,100; quick: 1,10.
    #[arg(long, value_delimiter = ',')]
    latency_subscribers: Option<Vec<usize>>,
    /// Subscriber counts tried, in order, for the capacity scenario (stops at the first count
    /// with drops). Default: 100,150,200,300; quick: 10.
    #[arg(long, value_delimiter = ',')]
    capacity: Option<Vec<usize>>,
    /// Also write the table to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// (internal) Publish frames until stdin closes.
    #[command(hide = true)]
    Publish {
        #[arg(long)]
        stack: Stack,
        #[arg(long)]
        input: Input,
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        max_seconds: f64,
    },
    /// (internal) Subscribe, decode and report until stdin closes.
    #[command(hide = true)]
    Subscribe {
        #[arg(long)]
        stack: Stack,
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        stall: bool,
        #[arg(long)]
        max_seconds: f64,
    },
}

/// Stacks of a full run: the real stack on both endpoints, then each codec alone.
const FULL_STACKS: &str = "server-sk2,server-v2-rvl,server-v2-medans,server-v2-medhuf,sk2-pub,\
     v2-rvl-pub,v2-medans-pub,v2-medhuf-pub,server-ir-medhuf,ir-rvl-pub,ir-medhuf-pub,\
     server-color,color-pub";
/// Stacks of a quick run: the real stack on both endpoints, so CI stays within seconds.
const QUICK_STACKS: &str = "server-sk2,server-v2-medhuf";

fn parse_stacks(list: &str) -> Result<Vec<Stack>> {
    list.split(',').map(str::parse).collect()
}

/// The frame rate of a Kinect v2, used by the latency, capacity and stall scenarios.
const SENSOR_FPS: f64 = 30.0;
/// Readers beside the stalled subscriber in the stall scenario: enough to see them unaffected.
const READERS_BESIDE_STALLED: usize = 3;
/// Exit status of a run stopped by a signal (128 + SIGINT, as shells report an interrupted job).
const EXIT_INTERRUPTED: i32 = 130;

fn main() {
    let args = Args::parse();
    let result = match &args.role {
        Some(Role::Publish {
            stack,
            input,
            rate,
            max_seconds,
        }) if stack.is_server() => sk2_bench::real::serve(*stack, input, *rate, *max_seconds),
        Some(Role::Publish {
            stack,
            input,
            rate,
            max_seconds,
        }) => roles::publish(&roles::PublisherOptions {
            stack: *stack,
            input: input.clone(),
            rate_fps: *rate,
            max_seconds: *max_seconds,
        }),
        Some(Role::Subscribe {
            stack,
            endpoint,
            stall,
            max_seconds,
        }) if stack.is_server() => {
            sk2_bench::real::subscribe(*stack, endpoint, *stall, *max_seconds)
        }
        Some(Role::Subscribe {
            stack,
            endpoint,
            stall,
            max_seconds,
        }) => roles::subscribe(&roles::SubscriberOptions {
            stack: *stack,
            endpoint: endpoint.clone(),
            stall: *stall,
            max_seconds: *max_seconds,
        }),
        None => orchestrate(&args),
    };
    if let Err(error) = result {
        eprintln!("kinect-bench: {error:#}");
        let interrupted = error.chain().any(|cause| cause.is::<Interrupted>());
        std::process::exit(if interrupted { EXIT_INTERRUPTED } else { 1 });
    }
}

/// The first three fields of `/proc/loadavg`, or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

fn orchestrate(args: &Args) -> Result<()> {
    // Installed whatever SIGINT's disposition was: a script's background job starts with it
    // ignored, and `kill -INT` must still stop the run (the children are stopped through stdin).
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    ctrlc::set_handler(move || stop_flag.store(true, Ordering::SeqCst))
        .context("installing the SIGINT / SIGTERM handler")?;
    let exe = std::env::current_exe().context("locating this binary")?;
    let window =
        Duration::from_secs_f64(
            args.window_seconds
                .unwrap_or(if args.quick { 0.5 } else { 10.0 }),
        );
    let stall_window =
        Duration::from_secs_f64(
            args.stall_seconds
                .unwrap_or(if args.quick { 1.0 } else { 60.0 }),
        );
    let latency_subs = args.latency_subscribers.clone().unwrap_or(if args.quick {
        vec![1, 10]
    } else {
        vec![1, 10, 100]
    });
    let ladder = args.capacity.clone().unwrap_or(if args.quick {
        vec![10]
    } else {
        vec![100, 150, 200, 300]
    });
    let chosen = match &args.stacks {
        Some(stacks) => stacks.clone(),
        None if args.quick => parse_stacks(QUICK_STACKS)?,
        None => parse_stacks(FULL_STACKS)?,
    };
    let mut stacks = vec![Stack::Raw];
    stacks.extend(chosen.into_iter().filter(|&s| s != Stack::Raw));
    let mut inputs = vec![Input::Mock];
    if let Some(dir) = &args.corpus {
        // Fail now, not after minutes of mock scenarios, if the directory is unusable.
        let corpus = Input::Corpus(dir.clone());
        sk2_bench::frames::load(&corpus)?;
        inputs.push(corpus);
    }

    // Other work on the machine skews every figure; say how busy it was.
    let load_before = load_average();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut measure = |scenario: Scenario| -> Result<Outcome> {
        eprintln!(
            "kinect-bench: {} {} {} subs={}+{} rate={} window={:?}",
            scenario.kind,
            scenario.stack,
            scenario.input,
            scenario.subscribers,
            scenario.stalled,
            scenario.rate_fps,
            scenario.window
        );
        let outcome = match harness::run(&exe, &scenario, &stop) {
            Ok(outcome) => outcome,
            // A terminal's Ctrl-C also reaches the children, which may die before the
            // orchestrator notices the flag: any failure after a stop request is the stop.
            Err(_) if stop.load(Ordering::SeqCst) => return Err(Interrupted.into()),
            Err(error) => {
                return Err(
                    error.context(format!("{} scenario on {}", scenario.kind, scenario.stack))
                )
            }
        };
        outcomes.push(outcome.clone());
        Ok(outcome)
    };
    let result = (|| -> Result<()> {
        for input in &inputs {
            // Infrared and colour templates come from the mock; a depth corpus has neither.
            let stacks_here = stacks
                .iter()
                .filter(|stack| *input == Input::Mock || stack.is_depth());
            for &stack in stacks_here {
                let base = Scenario {
                    kind: "latency",
                    stack,
                    input: input.clone(),
                    subscribers: 1,
                    stalled: 0,
                    rate_fps: SENSOR_FPS,
                    window,
                };
                let subs_here: &[usize] = if *input == Input::Mock {
                    &latency_subs
                } else {
                    &[1]
                };
                for &subscribers in subs_here {
                    measure(Scenario {
                        subscribers,
                        ..base.clone()
                    })?;
                }
                measure(Scenario {
                    kind: "throughput",
                    rate_fps: args.max_fps,
                    ..base.clone()
                })?;
                if *input != Input::Mock {
                    continue;
                }
                for &subscribers in &ladder {
                    let outcome = measure(Scenario {
                        kind: "capacity",
                        subscribers,
                        ..base.clone()
                    })?;
                    if outcome.drops > 0 {
                        break;
                    }
                }
                measure(Scenario {
                    kind: "stalled",
                    subscribers: READERS_BESIDE_STALLED,
                    stalled: 1,
                    window: stall_window,
                    ..base.clone()
                })?;
            }
        }
        Ok(())
    })();
    if let Err(error) = result {
        if error.is::<Interrupted>() && !outcomes.is_empty() {
            println!("{}", harness::table(&outcomes));
            eprintln!("kinect-bench: interrupted; the table has the scenarios finished so far");
        }
        return Err(error);
    }
    let mut table = harness::table(&outcomes);
    table.push_str(&format!(
        "\nLoad average (1/5/15 min) before: {load_before}; after: {}; cores: {}.\n",
        load_average(),
        std::thread::available_parallelism().map_or(0, usize::from)
    ));
    println!("{table}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
