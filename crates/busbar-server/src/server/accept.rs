//! What the accept loop does when `accept` fails: back off while the
//! process is out of a resource, and report at most once a second.

use std::io;
use std::time::{Duration, Instant};

/// The first pause after a resource error.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause, reached after a few errors in a row.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning per this long; the rest are counted in it.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The accept loop's memory of recent failures.
#[derive(Debug, Default)]
pub(crate) struct AcceptErrors {
    /// The pause after the next resource error; zero after a success.
    pause: Duration,
    last_report: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// Records a failed accept at `now` and says how long to pause before
    /// the next. An error that concerns only the connection being accepted
    /// (the client reset it first) is no reason to pause. Anything else —
    /// out of file descriptors (`EMFILE`, `ENFILE`) or memory — persists
    /// until connections close, and accepting again at once would only fail
    /// again, so the pause doubles with each failure in a row, up to a second.
    pub(crate) fn failed(&mut self, error: &io::Error, now: Instant) -> Duration {
        metrics::counter!("busbar_accept_errors_total").increment(1);
        if concerns_one_connection(error) {
            tracing::debug!(%error, "accept failed for one connection");
            return Duration::ZERO;
        }
        let due = self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= REPORT_EVERY);
        if due {
            tracing::warn!(
                %error,
                suppressed = self.suppressed,
                "accept failed; backing off (suppressed: failures since the last warning)"
            );
            self.last_report = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        self.pause = (self.pause * 2).clamp(FIRST_PAUSE, LONGEST_PAUSE);
        self.pause
    }

    /// Records a successful accept: the next resource error starts the
    /// backoff afresh.
    pub(crate) fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

fn concerns_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::other("Too many open files (os error 24)")
    }

    #[test]
    fn resource_errors_back_off_doubling_up_to_a_second_and_a_success_resets() {
        let mut errors = AcceptErrors::default();
        let now = Instant::now();
        let pauses: Vec<_> = (0..10)
            .map(|_| errors.failed(&emfile(), now).as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        errors.succeeded();
        assert_eq!(errors.failed(&emfile(), now), FIRST_PAUSE);
    }

    #[test]
    fn an_error_of_one_connection_is_no_reason_to_pause() {
        let mut errors = AcceptErrors::default();
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(errors.failed(&aborted, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn at_most_one_report_a_second_counting_the_rest() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        errors.failed(&emfile(), start);
        assert_eq!(errors.last_report, Some(start));
        for step in 1..=20 {
            errors.failed(&emfile(), start + Duration::from_millis(step * 40));
        }
        assert_eq!((errors.last_report, errors.suppressed), (Some(start), 20));
        let later = start + Duration::from_millis(1000);
        errors.failed(&emfile(), later);
        assert_eq!((errors.last_report, errors.suppressed), (Some(later), 0));
    }
}
