//! Calling upstreams: the HTTP client, SigV4 signing (and checking a Bedrock
//! client's signature), AWS credentials from the platform's chain (`aws`),
//! and each lane's [`Target`] — URL, credential, headers and error map.

mod aws;
mod client;
mod io;
pub(crate) mod sigv4;
mod target;

pub(crate) use aws::AwsChain;
pub(crate) use client::{build as build_client, UpstreamClient};
pub(crate) use io::{copy_end_to_end_headers, describe, read_limited};
pub(crate) use target::{FromClient, Target};
