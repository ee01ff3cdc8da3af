//! Waiting for the moment a replayed frame is due, to well under a millisecond.

use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How long before a frame is due the replay stops sleeping and yields instead. A thread that
/// sleeps wakes late by the timer slack and the scheduler's wake-up latency (tens of µs, up to
/// half a millisecond); from this margin on the thread stays runnable and gives way to others
/// until the due time. At 30 fps that costs at most 15 ms of CPU a second, 1.5 % of a core
/// (measured in docs/recording.md: p99 0.06 ms -> 0.01 ms for +1.3 % of a core).
pub(crate) const SPIN_MARGIN: Duration = Duration::from_micros(500);

/// Waits until `due`: sleeps on `stopped` until [`SPIN_MARGIN`] before it, then yields until it
/// has passed. Returns `false` as soon as `stopped` is disconnected (the player was dropped),
/// also when `due` has passed already: a replay running behind must still stop.
pub(crate) fn wait_until(due: Instant, stopped: &mpsc::Receiver<()>) -> bool {
    let sleep = due
        .saturating_duration_since(Instant::now())
        .saturating_sub(SPIN_MARGIN);
    let dropped = if sleep.is_zero() {
        matches!(stopped.try_recv(), Err(TryRecvError::Disconnected))
    } else {
        matches!(
            stopped.recv_timeout(sleep),
            Err(RecvTimeoutError::Disconnected)
        )
    };
    if dropped {
        return false;
    }
    while Instant::now() < due {
        if matches!(stopped.try_recv(), Err(TryRecvError::Disconnected)) {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_for_a_frame_never_ends_before_it_is_due() {
        let (_running, stopped) = mpsc::channel::<()>();
        // Inside the margin, at its edge, beyond it, and already past.
        for ahead_us in [0, 500, 2_000, 2_500, 6_000] {
            let due = Instant::now() + Duration::from_micros(ahead_us);
            assert!(wait_until(due, &stopped));
            assert!(
                Instant::now() >= due,
                "returned before a frame due in {ahead_us} us"
            );
        }
        let past = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        assert!(wait_until(past, &stopped));
    }

    #[test]
    fn the_wait_for_a_frame_ends_when_the_player_is_dropped() {
        let (running, stopped) = mpsc::channel::<()>();
        drop(running);
        // While sleeping, while yielding, and behind time (due already).
        for ahead in [Duration::from_secs(60), SPIN_MARGIN / 2, Duration::ZERO] {
            let asked = Instant::now();
            assert!(!wait_until(asked + ahead, &stopped));
            assert!(asked.elapsed() < Duration::from_secs(30));
        }
    }
}
