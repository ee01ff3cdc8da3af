//! The sensor's other streams: `ir_v2` and `color`, each with its own queue, thread and socket.
//!
//! ```text
//! sensor's IR sink    --> queue (2 frames) --> IR publisher thread:    encode ir_v2 --> XPUB ir_v2
//! sensor's colour sink --> queue (2 frames) --> colour publisher thread: header+JPEG --> XPUB color
//! ```
//!
//! Depth keeps its encoder pool and publisher ([`crate::pipeline`]); these streams share nothing
//! with it but the sensor, so a colour frame that is slow to send, or a colour subscriber that
//! stalls, cannot delay a depth frame. Each sink drops (and counts) a frame when its queue is
//! full or nobody is subscribed; each publisher encodes a frame once, whatever the number of
//! subscribers, and (X)PUB drops per subscriber at the high-water mark.
//!
//! IR is encoded on its publisher thread (MEDHUF: about a millisecond per 512 x 424 frame); colour
//! is the sensor's JPEG behind a 44-byte header, a copy of a few hundred kilobytes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use sk2_proto::{
    color, ir_v2, CapturedColorFrame, CapturedIrFrame, ColorSink, IrSink, StreamDemand,
};

use crate::pipeline::{send, update_topics, SUBSCRIPTION_POLL_INTERVAL};
use crate::stats::{Counters, StreamCounters};
use crate::thread::ServerThread;
use crate::Codec;

/// Frames a stream's queue holds between the sensor and its publisher. Two: one being sent and
/// the next; more would only add latency, since the newest frame is the one worth having.
pub const STREAM_QUEUE_FRAMES: usize = 2;

/// A running stream publisher: its thread owns the stream's socket.
pub(crate) struct StreamPublisher {
    stop: Option<Sender<()>>,
    thread: Option<ServerThread>,
}

impl StreamPublisher {
    /// Stops the thread (which closes the socket with its linger) and waits at most `timeout`.
    pub(crate) fn stop(&mut self, timeout: Duration) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            thread.join_within(timeout);
        }
    }
}

impl Drop for StreamPublisher {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

/// Starts the `ir_v2` publisher on `socket` and returns it with the sink for the sensor; keeps
/// `demand` told whether anyone subscribes.
pub(crate) fn start_ir(
    name: String,
    socket: zmq::Socket,
    codec: Codec,
    counters: Arc<StreamCounters>,
    demand: StreamDemand,
) -> std::io::Result<(StreamPublisher, IrSink)> {
    let encode = move |frame: &CapturedIrFrame, out: &mut Vec<u8>| {
        ir_v2::encode_into(frame, codec, out);
        frame.sequence
    };
    let report = move |wanted| demand.set_ir(wanted);
    let (publisher, sink) = start(name, socket, counters, encode, report)?;
    Ok((publisher, Box::new(sink)))
}

/// Starts the `color` publisher on `socket` and returns it with the sink for the sensor; keeps
/// `demand` told whether anyone subscribes.
pub(crate) fn start_color(
    name: String,
    socket: zmq::Socket,
    counters: Arc<StreamCounters>,
    demand: StreamDemand,
) -> std::io::Result<(StreamPublisher, ColorSink)> {
    let encode = |frame: &CapturedColorFrame, out: &mut Vec<u8>| {
        color::encode_into(frame, out);
        frame.sequence
    };
    let report = move |wanted| demand.set_color(wanted);
    let (publisher, sink) = start(name, socket, counters, encode, report)?;
    Ok((publisher, Box::new(sink)))
}

/// The sink and publisher thread of one stream. `encode` writes a frame's message into a buffer
/// and returns its sequence number (for the logs); `report` hears whether anyone subscribes.
fn start<F: Send + 'static>(
    name: String,
    socket: zmq::Socket,
    counters: Arc<StreamCounters>,
    encode: impl Fn(&F, &mut Vec<u8>) -> u64 + Send + 'static,
    report: impl Fn(bool) + Send + 'static,
) -> std::io::Result<(StreamPublisher, impl FnMut(F) + Send + 'static)> {
    let (to_publisher, frames) = crossbeam_channel::bounded::<F>(STREAM_QUEUE_FRAMES);
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let watched = Arc::new(AtomicBool::new(false));
    let thread = {
        let counters = Arc::clone(&counters);
        let watched = Arc::clone(&watched);
        ServerThread::spawn(name, move || {
            let watch = |wanted: bool| {
                watched.store(wanted, Ordering::Release);
                report(wanted);
            };
            publish_loop(&socket, &frames, &stopped, watch, &counters, encode);
        })?
    };
    let sink = move |frame: F| {
        Counters::add(&counters.captured, 1);
        if !watched.load(Ordering::Acquire) {
            Counters::add(&counters.unwatched, 1);
            return;
        }
        // Full: the publisher is still busy with earlier frames; disconnected: it is stopping.
        if to_publisher.try_send(frame).is_err() {
            let dropped = Counters::add(&counters.dropped_busy, 1);
            if dropped % 10 == 1 {
                tracing::debug!(dropped, "stream publisher busy: frame dropped");
            }
        }
    };
    Ok((
        StreamPublisher {
            stop: Some(stop),
            thread: Some(thread),
        },
        sink,
    ))
}

fn publish_loop<F>(
    socket: &zmq::Socket,
    frames: &Receiver<F>,
    stopped: &Receiver<()>,
    watch: impl Fn(bool),
    counters: &StreamCounters,
    encode: impl Fn(&F, &mut Vec<u8>) -> u64,
) {
    let mut topics = HashSet::new();
    loop {
        update_topics(socket, &mut topics);
        watch(!topics.is_empty());
        let frame = crossbeam_channel::select! {
            recv(frames) -> frame => match frame {
                Ok(frame) => frame,
                Err(_) => return,
            },
            recv(stopped) -> _ => return,
            default(SUBSCRIPTION_POLL_INTERVAL) => continue,
        };
        // A fresh buffer per message: libzmq takes ownership of it and frees it after the last
        // subscriber's send, so it cannot be reused.
        let mut message = Vec::new();
        let sequence = encode(&frame, &mut message);
        let bytes = message.len() as u64;
        if send(socket, message, sequence) {
            Counters::add(&counters.published, 1);
            Counters::add(&counters.bytes_published, bytes);
        }
    }
}
