//! The data plane: sensor sink -> encoder pool -> one publisher thread per sensor -> PUB socket.
//!
//! ```text
//! sensor thread          encoder pool (N threads)        publisher thread (owns the PUB socket)
//!   sink: in flight < N+1? --jobs (bounded)--> encode once --(bounded)--> newer than the last? send
//!         else drop (busy)                      or drop (error)           else drop (stale)
//! ```
//!
//! Every queue here drops rather than blocks: the sensor must never wait (reference, section 5),
//! and the newest frame is the one worth having. Every drop is counted in [`Counters`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use sk2_proto::{sk2, CapturedFrame, FrameSink};

use crate::stats::Counters;
use crate::thread::Worker;

/// One frame for the encoder pool, with the pipe it belongs to.
pub(crate) struct Job {
    frame: CapturedFrame,
    pipe: Arc<Pipe>,
}

/// One encoded frame on its way to the publisher thread.
pub(crate) struct Encoded {
    sequence: u64,
    message: Vec<u8>,
}

/// The per-sensor state shared by its sink, the encoders and its publisher.
pub(crate) struct Pipe {
    pub(crate) counters: Arc<Counters>,
    /// Frames accepted by the sink and not yet taken by the publisher (or dropped). Shared with
    /// the publisher thread, which takes frames off the count as it receives them, so the
    /// publisher's queue can never be full.
    in_flight: Arc<AtomicUsize>,
    /// Most frames in flight before the sink drops new ones: workers + 1, as the original.
    max_in_flight: usize,
    to_publisher: Sender<Encoded>,
}

/// Logs one drop in this many at debug level, so a flood of drops does not flood the log.
const LOG_EVERY_NTH_DROP: u64 = 10;

/// The shared encoder threads of a server.
pub(crate) struct EncoderPool {
    jobs: Sender<Job>,
    workers: Vec<Worker>,
}

impl EncoderPool {
    /// Starts `workers` encoder threads. The job queue holds `queue` frames; the per-sensor
    /// in-flight limit is what normally bounds it, the queue size is a backstop.
    pub(crate) fn start(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, receiver) = crossbeam_channel::bounded::<Job>(queue.max(1));
        let workers = (0..workers.max(1))
            .map(|index| {
                let receiver = receiver.clone();
                Worker::spawn(format!("sk2-encode-{index}"), move || {
                    encode_loop(&receiver)
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { jobs, workers })
    }

    /// A sink for a sensor that feeds this pool.
    pub(crate) fn sink(&self, pipe: Arc<Pipe>) -> FrameSink {
        let jobs = self.jobs.clone();
        Box::new(move |frame: CapturedFrame| {
            let counters = &pipe.counters;
            Counters::add(&counters.captured, 1);
            if pipe.in_flight.fetch_add(1, Ordering::AcqRel) >= pipe.max_in_flight {
                pipe.in_flight.fetch_sub(1, Ordering::AcqRel);
                drop_busy(counters, frame.sequence);
                return;
            }
            let sequence = frame.sequence;
            let job = Job {
                frame,
                pipe: Arc::clone(&pipe),
            };
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = jobs.try_send(job) {
                pipe.in_flight.fetch_sub(1, Ordering::AcqRel);
                drop_busy(counters, sequence);
            }
        })
    }

    /// Stops the workers once the queued jobs are done, waiting at most `timeout` for each.
    pub(crate) fn stop(self, timeout: Duration) {
        drop(self.jobs);
        for worker in self.workers {
            worker.join_within(timeout);
        }
    }
}

fn drop_busy(counters: &Counters, sequence: u64) {
    let dropped = Counters::add(&counters.dropped_busy, 1);
    if dropped % LOG_EVERY_NTH_DROP == 1 {
        tracing::debug!(sequence, dropped, "encoders busy: frame dropped");
    }
}

fn encode_loop(jobs: &Receiver<Job>) {
    // Reused between frames: the packing buffer is 1.5 bytes per pixel.
    let mut raw = Vec::new();
    while let Ok(Job { frame, pipe }) = jobs.recv() {
        match sk2::encode_with(&frame.depth, &mut raw) {
            Ok(message) => {
                Counters::add(&pipe.counters.encoded, 1);
                let encoded = Encoded {
                    sequence: frame.sequence,
                    message,
                };
                // The publisher's queue holds max_in_flight frames, as many as can be in flight,
                // so it is never full; it is disconnected when the sensor is being removed.
                if pipe.to_publisher.try_send(encoded).is_err() {
                    pipe.in_flight.fetch_sub(1, Ordering::AcqRel);
                    Counters::add(&pipe.counters.dropped_closing, 1);
                    tracing::trace!(sequence = frame.sequence, "publisher gone: frame dropped");
                }
                continue;
            }
            Err(error) => {
                let count = Counters::add(&pipe.counters.dropped_encode_error, 1);
                if count % LOG_EVERY_NTH_DROP == 1 {
                    tracing::warn!(%error, count, "cannot encode frame: dropped");
                }
            }
        }
        pipe.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running publisher: its thread owns the PUB socket.
pub(crate) struct Publisher {
    stop: Option<Sender<()>>,
    worker: Option<Worker>,
}

impl Publisher {
    /// Starts a publisher thread for `socket` (already bound) and returns it with the pipe the
    /// sensor's sink and the encoders use.
    pub(crate) fn start(
        name: String,
        socket: zmq::Socket,
        counters: Arc<Counters>,
        max_in_flight: usize,
    ) -> std::io::Result<(Self, Arc<Pipe>)> {
        let (to_publisher, encoded) = crossbeam_channel::bounded(max_in_flight.max(1));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let pipe = Arc::new(Pipe {
            counters: Arc::clone(&counters),
            in_flight: Arc::clone(&in_flight),
            max_in_flight: max_in_flight.max(1),
            to_publisher,
        });
        let worker = Worker::spawn(name, move || {
            publish_loop(&socket, &encoded, &stopped, &counters, &in_flight);
        })?;
        Ok((
            Self {
                stop: Some(stop),
                worker: Some(worker),
            },
            pipe,
        ))
    }

    /// Stops the thread (which closes the socket, with the linger it was given) and waits at most
    /// `timeout` for it.
    pub(crate) fn stop(&mut self, timeout: Duration) {
        drop(self.stop.take());
        if let Some(worker) = self.worker.take() {
            worker.join_within(timeout);
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

fn publish_loop(
    socket: &zmq::Socket,
    encoded: &Receiver<Encoded>,
    stopped: &Receiver<()>,
    counters: &Counters,
    in_flight: &AtomicUsize,
) {
    let mut last_published: Option<u64> = None;
    let mut stopping = false;
    loop {
        let next = if stopping {
            // Publish what the encoders finished before the stop, then end.
            match encoded.try_recv() {
                Ok(next) => next,
                Err(_) => return,
            }
        } else {
            crossbeam_channel::select! {
                recv(encoded) -> message => match message {
                    Ok(message) => message,
                    Err(_) => return,
                },
                recv(stopped) -> _ => {
                    stopping = true;
                    continue;
                }
            }
        };
        let Encoded { sequence, message } = next;
        in_flight.fetch_sub(1, Ordering::AcqRel);
        if last_published.is_some_and(|last| sequence <= last) {
            let dropped = Counters::add(&counters.dropped_stale, 1);
            tracing::trace!(
                sequence,
                dropped,
                "older than the last frame published: dropped"
            );
            continue;
        }
        // PUB never blocks: at the high-water mark libzmq drops the message for that subscriber.
        match socket.send(&message, zmq::DONTWAIT) {
            Ok(()) => {
                last_published = Some(sequence);
                Counters::add(&counters.published, 1);
                Counters::add(&counters.bytes_published, message.len() as u64);
                tracing::trace!(sequence, bytes = message.len(), "frame published");
            }
            Err(zmq::Error::ETERM) => return,
            Err(error) => tracing::warn!(%error, sequence, "cannot publish frame"),
        }
    }
}
