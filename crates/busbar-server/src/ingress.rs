//! Which route a request is for: the ingress protocol and where the model
//! name comes from.

use busbar_protocols::Protocol;
use http::Method;

/// What a request asks of Busbar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /healthz`.
    Healthz,
    /// `GET /stats`.
    Stats,
    /// `GET /metrics`.
    Metrics,
    /// `GET /v1/models`.
    Models,
    /// A request to proxy: its ingress protocol and the model name from the
    /// URL, when the protocol puts it there.
    Proxy {
        protocol: Protocol,
        name: Option<String>,
    },
    /// A known path with the wrong method.
    MethodNotAllowed { protocol: Protocol },
    /// Nothing here.
    NotFound,
}

const ANTHROPIC_SUFFIX: &str = "/v1/messages";

/// Matches a request line. The query string must already be stripped.
pub(crate) fn route(method: &Method, path: &str) -> Route {
    let get = method == Method::GET;
    let post = method == Method::POST;
    let proxy = |protocol, name| {
        if post {
            Route::Proxy { protocol, name }
        } else {
            Route::MethodNotAllowed { protocol }
        }
    };
    match path {
        "/healthz" if get => Route::Healthz,
        "/stats" if get => Route::Stats,
        "/metrics" if get => Route::Metrics,
        "/v1/models" | "/models" if get => Route::Models,
        // The OpenAI SDKs append `/chat/completions` to whatever base URL
        // they are given; the guide's example uses a base URL without `/v1`.
        "/v1/chat/completions" | "/chat/completions" => proxy(Protocol::OpenAi, None),
        "/v1/messages" => proxy(Protocol::Anthropic, None),
        _ => match path.strip_suffix(ANTHROPIC_SUFFIX) {
            Some(prefix) if prefix.len() > 1 => {
                match percent_decode(&prefix[1..]) {
                    Some(name) => proxy(Protocol::Anthropic, Some(name)),
                    None => Route::NotFound,
                }
            }
            _ => Route::NotFound,
        },
    }
}

/// Decodes `%XX` escapes. `None` when an escape is malformed or the result
/// is not UTF-8.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(protocol: Protocol, name: Option<&str>) -> Route {
        Route::Proxy {
            protocol,
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn openai_routes_with_and_without_v1() {
        assert_eq!(route(&Method::POST, "/v1/chat/completions"), proxy(Protocol::OpenAi, None));
        assert_eq!(route(&Method::POST, "/chat/completions"), proxy(Protocol::OpenAi, None));
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions"),
            Route::MethodNotAllowed { protocol: Protocol::OpenAi }
        );
    }

    #[test]
    fn anthropic_name_in_path_or_body() {
        assert_eq!(route(&Method::POST, "/v1/messages"), proxy(Protocol::Anthropic, None));
        assert_eq!(
            route(&Method::POST, "/claude-sonnet/v1/messages"),
            proxy(Protocol::Anthropic, Some("claude-sonnet"))
        );
        assert_eq!(
            route(&Method::POST, "/meta-llama/Llama-3.3-70B/v1/messages"),
            proxy(Protocol::Anthropic, Some("meta-llama/Llama-3.3-70B"))
        );
        assert_eq!(
            route(&Method::POST, "/anthropic.claude-v1%3A0/v1/messages"),
            proxy(Protocol::Anthropic, Some("anthropic.claude-v1:0"))
        );
        assert_eq!(route(&Method::POST, "/bad%zz/v1/messages"), Route::NotFound);
    }

    #[test]
    fn ops_routes_are_get_only() {
        assert_eq!(route(&Method::GET, "/healthz"), Route::Healthz);
        assert_eq!(route(&Method::POST, "/healthz"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/stats"), Route::Stats);
        assert_eq!(route(&Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/nope"), Route::NotFound);
    }
}
