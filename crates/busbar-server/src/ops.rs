//! The operational side: `/healthz`, `/stats`, `/metrics` and the model
//! lists ([`stats`]), the health prober ([`health`]) and the governance
//! admin API ([`admin`]).

pub(crate) mod admin;
pub(crate) mod health;
pub(crate) mod stats;
