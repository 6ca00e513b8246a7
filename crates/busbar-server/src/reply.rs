//! What travels with a reply to the client: the response [`Body`] (bytes
//! Busbar built, a relayed upstream body, or a stream translated frame by
//! frame), the lane's [`Guard`] inside it, and governance's [`Meter`].
//!
//! This is the lowest layer of the server: errors render into a [`Body`],
//! so nothing here knows routes, state or errors.

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
