//! What travels with a reply to the client: the response [`Body`] (bytes
//! Busbar built, a relayed upstream body, or a stream translated frame by
//! frame), the lane's [`Guard`] inside it, governance's [`Meter`], the spend
//! [`Tally`], the shutdown [`Cutoff`] every stream watches, and the drain
//! of a metered stream its client left.
//!
//! It sits below `error`, because errors render into a [`Body`]: nothing
//! here knows routes, state or errors, only the record and the trace a
//! reply carries.

mod body;
mod cutoff;
mod drain;
mod guard;
mod meter;
mod spend;

pub use body::{Body, BodyError};
pub(crate) use cutoff::Cutoff;
pub(crate) use drain::StreamLimits;
pub(crate) use guard::Guard;
pub(crate) use meter::{money_to_cents, store_error, LanePrice, Meter};
pub(crate) use spend::{LaneSpend, Tally};
