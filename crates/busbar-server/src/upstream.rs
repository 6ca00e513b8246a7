//! Calling upstreams: the HTTP client, SigV4 signing (and checking a Bedrock
//! client's signature), credentials from the platform — the AWS chain
//! (`aws`), Google's and Entra ID's tokens (`google`, `entra`, `token`),
//! all cached by `refresh` — what a cloud platform changes in a body
//! (`platform`), and each lane's [`Target`] — URL, credential, headers and
//! error map.

mod aws;
mod client;
mod entra;
mod google;
mod io;
mod platform;
mod refresh;
pub(crate) mod sigv4;
mod target;
mod token;

pub(crate) use aws::AwsChain;
pub(crate) use client::{build as build_client, UpstreamClient};
pub(crate) use io::{copy_end_to_end_headers, describe, read_limited};
pub(crate) use target::{FromClient, Target};
pub(crate) use token::BearerTokens;
pub use token::{describe_credentials, SourceError};
