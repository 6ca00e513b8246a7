//! Settings of a mock upstream: address, recording, credentials, pacing.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How a mock upstream behaves; every setting has a default suited to tests.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub(crate) addr: SocketAddr,
    pub(crate) record: bool,
    pub(crate) expected_key: Option<String>,
    pub(crate) aws_credentials: Option<AwsCredentials>,
    pub(crate) require_thought_signatures: bool,
    pub(crate) words_per_delta: usize,
    pub(crate) event_interval: Duration,
    pub(crate) worker_threads: usize,
    pub(crate) access_tokens: Option<crate::AccessTokens>,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            record: true,
            expected_key: None,
            aws_credentials: None,
            require_thought_signatures: true,
            words_per_delta: 3,
            event_interval: Duration::ZERO,
            worker_threads: 1,
            access_tokens: None,
        }
    }
}

impl MockOptions {
    /// The address to bind; default `127.0.0.1:0` (a free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Whether to keep every request for [`MockUpstream::received`](crate::MockUpstream::received); default on. Turn it off for
    /// load benchmarks: the log grows without bound.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// The only API key accepted; without one any non-empty key is. On Bedrock it applies to
    /// bearer tokens (Bedrock API keys); SigV4 is checked with [`MockOptions::aws_credentials`].
    pub fn expected_key(mut self, key: impl Into<String>) -> Self {
        self.expected_key = Some(key.into());
        self
    }

    /// The access tokens Vertex AI and Azure OpenAI paths accept as `Authorization: Bearer`:
    /// those issued in `tokens` and not yet expired. Without them any non-empty token is.
    pub fn access_tokens(mut self, tokens: crate::AccessTokens) -> Self {
        self.access_tokens = Some(tokens);
        self
    }

    /// The AWS credentials Bedrock requests must be signed with. With them the mock recomputes
    /// each SigV4 signature and answers a mismatch with AWS's 403 `InvalidSignatureException`;
    /// without them any well-formed `AWS4-HMAC-SHA256` header scoped to `bedrock` passes.
    pub fn aws_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.aws_credentials = Some(AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        });
        self
    }

    /// Whether Gemini requests that replay a `functionCall` of the current turn must carry its
    /// `thoughtSignature` (or the sentinel `skip_thought_signature_validator`), answering 400
    /// otherwise as Gemini 3 models do; default on.
    pub fn require_thought_signatures(mut self, require: bool) -> Self {
        self.require_thought_signatures = require;
        self
    }

    /// Words of text per streamed delta; default 3.
    pub fn words_per_delta(mut self, words: usize) -> Self {
        self.words_per_delta = words.max(1);
        self
    }

    /// Pause between streamed events; default none. `busbar demo` uses one so streams look live.
    pub fn event_interval(mut self, interval: Duration) -> Self {
        self.event_interval = interval;
        self
    }

    /// Runtime threads for [`MockUpstream::start_in_thread`](crate::MockUpstream::start_in_thread); default 1.
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }
}

/// An AWS access key pair, for checking SigV4 signatures.
#[derive(Clone)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_suit_tests() {
        let options = MockOptions::default();
        assert_eq!(options.addr, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        assert!(options.record);
        assert!(options.require_thought_signatures);
        assert!(options.expected_key.is_none() && options.aws_credentials.is_none());
        assert_eq!((options.words_per_delta, options.worker_threads), (3, 1));
        assert_eq!(options.event_interval, Duration::ZERO);
    }

    #[test]
    fn setters_clamp_and_keep_secrets_out_of_debug() {
        let options = MockOptions::default()
            .words_per_delta(0)
            .worker_threads(0)
            .require_thought_signatures(false)
            .aws_credentials("AKID", "very-secret");
        assert_eq!((options.words_per_delta, options.worker_threads), (1, 1));
        assert!(!options.require_thought_signatures);
        let shown = format!("{options:?}");
        assert!(shown.contains("AKID") && !shown.contains("very-secret"));
    }
}
