//! The lane permit a request holds while its reply is in flight, and the
//! governance meter and spend tally that travel with it.

use busbar_ir::{ApiError, StreamEvent, Usage};
use busbar_routing::{ErrorSource, FailureClass, Outcome, Permit};

use super::meter::Meter;
use super::spend::Tally;
use crate::failure::{classify, ErrorMap};
use crate::record::Record;
use crate::trace::Trace;

/// Holds a lane's concurrency slot (and budget unit) until the reply body
/// is finished, and reports how it ended exactly once: to the lane, to the
/// spend tally, to governance when the request is metered, and to the
/// request log when the stream carries its record.
pub(crate) struct Guard {
    permit: Option<Permit>,
    // Boxed: most requests are not metered, and bodies stay small.
    meter: Option<Box<Meter>>,
    /// The reply's tokens and cost, counted when it ends however it ends.
    tally: Option<Box<Tally>>,
    /// The lane's `error_map`, for an error inside the stream.
    error_map: ErrorMap,
    /// The request's log record, for a streamed reply: finished with the
    /// stream.
    record: Option<Box<Record>>,
    /// The request's spans, when traced: they end when the reply does.
    trace: Option<Box<Trace>>,
}

impl Guard {
    /// A guard for a request whose upstream answered 2xx: the budget unit is
    /// charged now. `meter` is the request's admission, when governed.
    /// `trace` is the request's spans, when it is traced.
    pub(crate) fn charged(
        mut permit: Permit,
        meter: Option<Meter>,
        tally: Tally,
        error_map: ErrorMap,
        trace: Option<Box<Trace>>,
    ) -> Self {
        permit.charge();
        Self {
            permit: Some(permit),
            meter: meter.map(Box::new),
            tally: Some(Box::new(tally)),
            error_map,
            record: None,
            trace,
        }
    }

    /// Carries the request's log record with the stream, to finish it when
    /// the stream ends.
    pub(crate) fn carry(&mut self, record: Option<Box<Record>>) {
        self.record = record;
    }

    /// The log record the stream carries.
    pub(crate) fn record_mut(&mut self) -> Option<&mut Record> {
        self.record.as_deref_mut()
    }

    /// Whether governance wants this reply's usage.
    pub(crate) fn is_metered(&self) -> bool {
        self.meter.is_some()
    }

    /// The request's spans, to record a complete reply on.
    pub(crate) fn trace(&mut self) -> Option<&mut Trace> {
        self.trace.as_deref_mut()
    }

    /// A stream event passed: its usage counts, and a long reply renews
    /// its reservation.
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        if let Some(tally) = &mut self.tally {
            tally.observe(event);
        }
        if let Some(meter) = &mut self.meter {
            meter.observe(event);
            meter.tick();
        }
        if let Some(trace) = &mut self.trace {
            trace.observe(event);
        }
        if let Some(record) = &mut self.record {
            record.observe(event);
        }
    }

    /// The client left; the stream is read on for its usage and reports
    /// later, but the client's wait ended now.
    pub(crate) fn client_left(&mut self) {
        if let Some(record) = &mut self.record {
            record.client_left();
        }
    }

    /// The upstream is done with: the record, if carried, is written.
    fn finish_record(&mut self, failure: Option<FailureClass>) {
        if let Some(mut record) = self.record.take() {
            record.upstream_done();
            if let Some(class) = failure {
                record.stream_failed(class);
            }
            record.finish();
        }
    }

    /// The body reached its end: a success.
    pub(crate) fn body_complete(&mut self) {
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::Success);
        }
        self.count_spend();
        if let Some(meter) = self.meter.take() {
            meter.finish(true);
        }
        self.finish_record(None);
        if let Some(trace) = self.trace.take() {
            trace.succeeded();
        }
    }

    /// A complete reply with `usage` is about to be sent whole: the lane
    /// takes a success and governance settles before the client sees it.
    pub(crate) async fn complete_with(mut self, usage: &Usage) {
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::Success);
        }
        if let Some(mut tally) = self.tally.take() {
            tally.record(usage);
            tally.finish();
        }
        if let Some(trace) = self.trace.take() {
            trace.succeeded();
        }
        if let Some(mut meter) = self.meter.take() {
            meter.record(usage);
            meter.settle(true).await;
        }
    }

    /// The body broke off: the charge is refunded and the lane takes a
    /// failure of `class`.
    pub(crate) fn body_failed(&mut self, class: FailureClass) {
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::failed(class));
        }
        self.count_spend();
        if let Some(trace) = self.trace.take() {
            trace.broke_off(class.as_str());
        }
        if let Some(meter) = self.meter.take() {
            meter.finish(false);
        }
        self.finish_record(Some(class));
    }

    /// The upstream reported `error` inside its stream: the body broke off
    /// with the failure that error means for routing.
    pub(crate) fn stream_failed(&mut self, error: &ApiError) {
        let class = self.failure_class(error);
        self.body_failed(class);
    }

    /// What an error inside the stream means for routing.
    pub(crate) fn failure_class(&self, error: &ApiError) -> FailureClass {
        classify(&self.error_map, error, ErrorSource::Stream)
    }

    /// The client left a stream whose rest could not be read to its usage:
    /// governance charges the worst case reserved, and the lane takes
    /// `failure`, what the upstream did wrong while it was read, if anything.
    pub(crate) fn body_unreported(&mut self, failure: Option<FailureClass>) {
        if let Some(permit) = self.permit.take() {
            permit.finish(failure.map_or(Outcome::Success, Outcome::failed));
        }
        self.count_spend();
        if let Some(trace) = self.trace.take() {
            match failure {
                Some(class) => trace.broke_off(class.as_str()),
                None => trace.succeeded(),
            }
        }
        if let Some(meter) = self.meter.take() {
            meter.finish_unreported();
        }
        self.client_left();
        self.finish_record(None);
    }

    /// Counts the tokens the upstream reported so far, and their cost:
    /// the vendor bills them whether or not the reply was whole.
    fn count_spend(&mut self) {
        if let Some(tally) = self.tally.take() {
            tally.finish();
        }
    }

    /// Takes the request's spans back, the attempt's still open, when the
    /// reply failed before any byte reached the client.
    pub(crate) fn take_trace(&mut self) -> Option<Box<Trace>> {
        self.trace.take()
    }

    /// Takes the permit back, its charge refunded, and the meter unsettled,
    /// when the reply failed before any byte reached the client and another
    /// lane may be tried. The tally is counted: an upstream that opened
    /// with a usage report (Anthropic's `message_start`) bills it.
    pub(crate) fn recall(mut self) -> (Option<Permit>, Option<Meter>) {
        self.count_spend();
        let meter = self.meter.take().map(|meter| *meter);
        let permit = self.permit.take().map(|mut permit| {
            permit.refund();
            permit
        });
        (permit, meter)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Dropped before the end: the client went away. The upstream did
        // nothing wrong and the request was served as far as anyone asked,
        // so the charge stands and nothing counts against the lane; the key
        // pays for the tokens it was sent so far. (A metered stream's body
        // reads on for the usage instead, and settles the guard itself.)
        // The trace, dropped with it, ends its spans as cancelled.
        if let Some(permit) = self.permit.take() {
            permit.finish(Outcome::Success);
        }
        self.count_spend();
        if let Some(meter) = self.meter.take() {
            meter.finish(true);
        }
        self.client_left();
        self.finish_record(None);
    }
}
