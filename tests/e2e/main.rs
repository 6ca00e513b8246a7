//! End-to-end tests of the `busbar` binary: each test starts a mock upstream
//! (`busbar-testkit`) and the real binary pointed at it, talks HTTP to the
//! binary, and checks both what the client got back and what the upstream
//! was sent.
//!
//! One test binary, one module per subject:
//!
//! * `support` — the harness: temporary config files, the child process, an
//!   HTTP client and an SSE reader;
//! * `startup` — the command line, `check`, start-up failures, `demo`;
//! * `relay` — same protocol in and out: bytes untouched but the model;
//! * `translate_openai_to_anthropic`, `translate_anthropic_to_openai` —
//!   complete (non-streamed) cross-protocol requests and replies;
//! * `streaming` — streamed replies, relayed and translated;
//! * `agent_shapes` — what coding agents send (mid-conversation system
//!   messages, namespace tools), translated;
//! * `bedrock_invoke` — Claude through Bedrock's InvokeModel: its ingress
//!   to every egress and every ingress to an InvokeModel lane, streamed and
//!   not, with a tool turn, the envelope and SigV4 upstream;
//! * `bedrock_credentials` — Bedrock lanes signing with the AWS default
//!   credential chain (`credentials: aws`): environment, profiles,
//!   container credentials and their refresh, IMDSv2, web identity, a
//!   failing source;
//! * `clouds` — Vertex AI (Gemini, Claude) and Azure OpenAI (deployments
//!   and v1 APIs) with tokens from each source: a service-account key, an
//!   authorized user, the metadata server, Entra ID client credentials,
//!   managed identity; caching, refresh, a failing source, `check`;
//! * `cloud_ingress` — clients at the clouds' paths: Claude and Gemini at
//!   Vertex AI's, OpenAI Chat and Responses at Azure OpenAI's, to lanes of
//!   every protocol, streamed and not; malformed paths in the caller's shape;
//! * `count_tokens` — the token-counting routes: relayed, translated to a
//!   lane's counting endpoint, or estimated;
//! * `errors` — bad requests, upstream failures, broken streams;
//! * `limits` — `max_concurrent`, `max_requests`;
//! * `connections` — client connection bounds: head, body and idle
//!   timeouts, connection caps, HTTP/2 settings;
//! * `ops` — `/healthz`, `/stats`, `/metrics`, headers, client auth,
//!   graceful shutdown;
//! * `chaos` — upstream faults of every kind: failover, breakers, `/healthz`,
//!   affinity, context-length failover, exhaustion policies, each checked in
//!   what the client got and in `/stats` and `/metrics`;
//! * `load` — concurrent clients against a faulty upstream: every reply well
//!   formed, none hung, and the counters reconcile with what clients saw;
//! * `spend` — tokens by class and exact cost per lane, in `/metrics` and
//!   `/stats`;
//! * `governance` — virtual keys, the admin API, budgets and rate limits,
//!   refusals in every protocol's shape, spend across restarts;
//! * `request_log` — one JSON record per request in a rotated file and in
//!   batches posted to a webhook, with bodies capped and redacted;
//! * `tracing` — OpenTelemetry spans as an OTLP collector decodes them,
//!   the `traceparent` sent upstream, and a dead collector costing nothing.
//!
//! Every test owns its mock and its busbar process on fresh ports, so the
//! tests run in parallel.

mod support;

mod agent_shapes;
mod bedrock_credentials;
mod bedrock_invoke;
mod chaos;
mod cloud_ingress;
mod clouds;
mod connections;
mod count_tokens;
mod errors;
mod governance;
mod limits;
mod load;
mod ops;
mod relay;
mod request_log;
mod spend;
mod startup;
mod stream_endings;
mod streaming;
mod tracing;
mod translate_anthropic_to_openai;
mod translate_openai_to_anthropic;
