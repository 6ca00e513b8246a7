//! What a client sent: which route it is for ([`routes`]), who sent it
//! ([`auth`]), its body read within the limit, and the fields routing needs
//! peeked at without building a JSON tree ([`peek`]).

pub(crate) mod auth;
mod inbound;
pub(crate) mod peek;
pub(crate) mod routes;

pub(crate) use inbound::{collect_within, read_request_body, BodyLimits, BodyReadError, Inbound};
