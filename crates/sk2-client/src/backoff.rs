//! [`Backoff`]: a pause that doubles after each failure, up to a ceiling, and starts again from
//! the beginning after a success.

use std::time::Duration;

/// A doubling pause between attempts: `initial`, `2 x initial`, ... up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff whose first pause is `initial` and whose pauses never exceed `max` (nor go below
    /// `initial`, should `max` be smaller).
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The pause to wait now; the one after it is twice as long, up to the maximum.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        pause
    }

    /// After a success: the next pause is the initial one again.
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_maximum_and_reset_starts_again() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(450));
        let pauses: Vec<_> = (0..5).map(|_| backoff.next_pause()).collect();
        assert_eq!(pauses, [ms(100), ms(200), ms(400), ms(450), ms(450)]);
        backoff.reset();
        assert_eq!(backoff.next_pause(), ms(100));
    }

    #[test]
    fn a_maximum_below_the_initial_pause_keeps_the_initial_pause() {
        let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(backoff.next_pause(), Duration::from_secs(2));
        assert_eq!(backoff.next_pause(), Duration::from_secs(2));
    }
}
