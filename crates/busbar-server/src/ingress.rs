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
    /// `GET /v1/models` (OpenAI's list shape).
    Models,
    /// `GET /v1beta/models` (Gemini's list shape).
    GeminiModels,
    /// The governance admin API, any method (the handler checks it).
    Admin(AdminPath),
    /// A request to proxy.
    Proxy(Ingress),
    /// A token-count request (Anthropic `count_tokens`, Gemini
    /// `:countTokens`, Responses `input_tokens`, Bedrock `count-tokens`).
    Count(Ingress),
    /// A known path with the wrong method.
    MethodNotAllowed { protocol: Protocol },
    /// Nothing here.
    NotFound,
}

/// What an admin API path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminPath {
    /// `/admin/keys`.
    Keys,
    /// `/admin/keys/ID`.
    Key(String),
    /// `/admin/keys/ID/usage`.
    Usage(String),
}

/// A model request as its URL describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ingress {
    pub(crate) protocol: Protocol,
    /// The model name, for protocols that put it in the URL.
    pub(crate) name: Option<String>,
    /// Streamed or not, for protocols whose URL says so (Gemini, Bedrock).
    pub(crate) stream: Option<bool>,
    /// Gemini's `:streamGenerateContent` without `alt=sse`: one JSON array.
    pub(crate) json_array: bool,
}

impl Ingress {
    fn new(protocol: Protocol, name: Option<String>) -> Self {
        Self {
            protocol,
            name,
            stream: None,
            json_array: false,
        }
    }
}

const ANTHROPIC_SUFFIX: &str = "/v1/messages";
const ANTHROPIC_COUNT_SUFFIX: &str = "/v1/messages/count_tokens";

/// Matches a request line; `query` is the URL's query string, if any.
pub(crate) fn route(method: &Method, path: &str, query: Option<&str>) -> Route {
    let get = method == Method::GET;
    let post = method == Method::POST;
    let post_only = |route: Route, protocol: Protocol| {
        if post {
            route
        } else {
            Route::MethodNotAllowed { protocol }
        }
    };
    let proxy = |ingress: Ingress| {
        let protocol = ingress.protocol;
        post_only(Route::Proxy(ingress), protocol)
    };
    let count = |ingress: Ingress| {
        let protocol = ingress.protocol;
        post_only(Route::Count(ingress), protocol)
    };
    match path {
        "/healthz" if get => return Route::Healthz,
        "/stats" if get => return Route::Stats,
        "/metrics" if get => return Route::Metrics,
        "/v1/models" | "/models" if get => return Route::Models,
        "/v1beta/models" if get => return Route::GeminiModels,
        // The OpenAI SDKs append their paths to whatever base URL they are
        // given; the guide's example uses a base URL without `/v1`.
        "/v1/chat/completions" | "/chat/completions" => {
            return proxy(Ingress::new(Protocol::OpenAi, None))
        }
        "/v1/responses" | "/responses" => return proxy(Ingress::new(Protocol::Responses, None)),
        "/v1/messages" => return proxy(Ingress::new(Protocol::Anthropic, None)),
        "/v1/messages/count_tokens" => return count(Ingress::new(Protocol::Anthropic, None)),
        "/v1/responses/input_tokens" | "/responses/input_tokens" => {
            return count(Ingress::new(Protocol::Responses, None))
        }
        "/v2/chat" => return proxy(Ingress::new(Protocol::Cohere, None)),
        _ => {}
    }
    if let Some(rest) = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))
    {
        return match gemini(rest, query) {
            Some((ingress, false)) => proxy(ingress),
            Some((ingress, true)) => count(ingress),
            None => Route::NotFound,
        };
    }
    if let Some(rest) = path.strip_prefix("/admin/keys") {
        return admin(rest).map_or(Route::NotFound, Route::Admin);
    }
    if let Some(rest) = path.strip_prefix("/model/") {
        return match bedrock(rest) {
            Some((ingress, false)) => proxy(ingress),
            Some((ingress, true)) => count(ingress),
            None => Route::NotFound,
        };
    }
    if let Some(prefix) = path.strip_suffix(ANTHROPIC_COUNT_SUFFIX) {
        if let Some(name) = prefix.get(1..).filter(|name| !name.is_empty()) {
            return percent_decode(name).map_or(Route::NotFound, |name| {
                count(Ingress::new(Protocol::Anthropic, Some(name)))
            });
        }
    }
    match path.strip_suffix(ANTHROPIC_SUFFIX) {
        Some(prefix) if prefix.len() > 1 => match percent_decode(&prefix[1..]) {
            Some(name) => proxy(Ingress::new(Protocol::Anthropic, Some(name))),
            None => Route::NotFound,
        },
        _ => Route::NotFound,
    }
}

/// What follows `/admin/keys`: nothing, `/ID` or `/ID/usage`.
fn admin(rest: &str) -> Option<AdminPath> {
    let rest = match rest {
        "" | "/" => return Some(AdminPath::Keys),
        rest => rest.strip_prefix('/')?,
    };
    let (id, usage) = match rest.split_once('/') {
        Some((id, "usage")) => (id, true),
        Some(_) => return None,
        None => (rest, false),
    };
    let id = percent_decode(id).filter(|id| !id.is_empty())?;
    Some(if usage {
        AdminPath::Usage(id)
    } else {
        AdminPath::Key(id)
    })
}

/// `NAME:generateContent`, `NAME:streamGenerateContent` or
/// `NAME:countTokens`; `true` with the last.
fn gemini(rest: &str, query: Option<&str>) -> Option<(Ingress, bool)> {
    let (name, action) = rest.rsplit_once(':')?;
    let (stream, count) = match action {
        "generateContent" => (false, false),
        "streamGenerateContent" => (true, false),
        "countTokens" => (false, true),
        _ => return None,
    };
    let sse = query.is_some_and(|query| query.split('&').any(|pair| pair == "alt=sse"));
    let ingress = Ingress {
        protocol: Protocol::Gemini,
        name: Some(percent_decode(name).filter(|name| !name.is_empty())?),
        stream: Some(stream),
        json_array: stream && !sse,
    };
    Some((ingress, count))
}

/// `NAME/converse`, `NAME/converse-stream` or `NAME/count-tokens`; `true`
/// with the last.
fn bedrock(rest: &str) -> Option<(Ingress, bool)> {
    let (name, stream, count) = if let Some(name) = rest.strip_suffix("/converse-stream") {
        (name, true, false)
    } else if let Some(name) = rest.strip_suffix("/count-tokens") {
        (name, false, true)
    } else {
        (rest.strip_suffix("/converse")?, false, false)
    };
    let ingress = Ingress {
        protocol: Protocol::Bedrock,
        name: Some(percent_decode(name).filter(|name| !name.is_empty())?),
        stream: Some(stream),
        json_array: false,
    };
    Some((ingress, count))
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
        Route::Proxy(Ingress::new(protocol, name.map(str::to_owned)))
    }

    fn post(path: &str) -> Route {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        route(&Method::POST, path, query)
    }

    #[test]
    fn openai_routes_with_and_without_v1() {
        assert_eq!(post("/v1/chat/completions"), proxy(Protocol::OpenAi, None));
        assert_eq!(post("/chat/completions"), proxy(Protocol::OpenAi, None));
        assert_eq!(post("/v1/responses"), proxy(Protocol::Responses, None));
        assert_eq!(post("/v2/chat"), proxy(Protocol::Cohere, None));
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions", None),
            Route::MethodNotAllowed {
                protocol: Protocol::OpenAi
            }
        );
    }

    #[test]
    fn anthropic_name_in_path_or_body() {
        assert_eq!(post("/v1/messages"), proxy(Protocol::Anthropic, None));
        assert_eq!(
            post("/claude-sonnet/v1/messages"),
            proxy(Protocol::Anthropic, Some("claude-sonnet"))
        );
        assert_eq!(
            post("/meta-llama/Llama-3.3-70B/v1/messages"),
            proxy(Protocol::Anthropic, Some("meta-llama/Llama-3.3-70B"))
        );
        assert_eq!(
            post("/anthropic.claude-v1%3A0/v1/messages"),
            proxy(Protocol::Anthropic, Some("anthropic.claude-v1:0"))
        );
        assert_eq!(post("/bad%zz/v1/messages"), Route::NotFound);
    }

    #[test]
    fn gemini_actions_versions_and_framing() {
        let gemini = |name: &str, stream, json_array| {
            Route::Proxy(Ingress {
                protocol: Protocol::Gemini,
                name: Some(name.to_owned()),
                stream: Some(stream),
                json_array,
            })
        };
        assert_eq!(
            post("/v1beta/models/g:generateContent"),
            gemini("g", false, false)
        );
        assert_eq!(
            post("/v1/models/g:generateContent"),
            gemini("g", false, false)
        );
        assert_eq!(
            post("/v1beta/models/g:streamGenerateContent?alt=sse"),
            gemini("g", true, false)
        );
        assert_eq!(
            post("/v1beta/models/g:streamGenerateContent"),
            gemini("g", true, true)
        );
        assert_eq!(
            post("/v1beta/models/a%2Fb:generateContent?key=k"),
            gemini("a/b", false, false)
        );
        assert_eq!(post("/v1beta/models/g:embedContent"), Route::NotFound);
        assert_eq!(post("/v1beta/models/:generateContent"), Route::NotFound);
    }

    #[test]
    fn bedrock_converse_and_stream() {
        let bedrock = |name: &str, stream| {
            Route::Proxy(Ingress {
                protocol: Protocol::Bedrock,
                name: Some(name.to_owned()),
                stream: Some(stream),
                json_array: false,
            })
        };
        assert_eq!(post("/model/m/converse"), bedrock("m", false));
        assert_eq!(
            post("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"),
            bedrock("anthropic.claude-3-5-sonnet-20240620-v1:0", true)
        );
        assert_eq!(post("/model/m/invoke"), Route::NotFound);
    }

    #[test]
    fn count_routes_for_each_counting_protocol() {
        let count = |protocol, name: Option<&str>| {
            Route::Count(Ingress::new(protocol, name.map(str::to_owned)))
        };
        assert_eq!(
            post("/v1/messages/count_tokens?beta=true"),
            count(Protocol::Anthropic, None)
        );
        assert_eq!(
            post("/claude-sonnet/v1/messages/count_tokens"),
            count(Protocol::Anthropic, Some("claude-sonnet"))
        );
        assert_eq!(
            post("/a%2Fb/v1/messages/count_tokens"),
            count(Protocol::Anthropic, Some("a/b"))
        );
        assert_eq!(
            post("/v1/responses/input_tokens"),
            count(Protocol::Responses, None)
        );
        assert_eq!(
            post("/responses/input_tokens"),
            count(Protocol::Responses, None)
        );
        let fixed = |protocol, name: &str| {
            Route::Count(Ingress {
                protocol,
                name: Some(name.to_owned()),
                stream: Some(false),
                json_array: false,
            })
        };
        assert_eq!(
            post("/v1beta/models/g:countTokens"),
            fixed(Protocol::Gemini, "g")
        );
        assert_eq!(
            post("/v1/models/a%2Fb:countTokens?key=k"),
            fixed(Protocol::Gemini, "a/b")
        );
        assert_eq!(
            post("/model/anthropic.claude-v1%3A0/count-tokens"),
            fixed(Protocol::Bedrock, "anthropic.claude-v1:0")
        );
        assert_eq!(post("/model//count-tokens"), Route::NotFound);
        assert_eq!(
            route(&Method::GET, "/v1/messages/count_tokens", None),
            Route::MethodNotAllowed {
                protocol: Protocol::Anthropic
            }
        );
    }

    #[test]
    fn admin_paths() {
        let admin = |path: &str| route(&Method::GET, path, None);
        assert_eq!(admin("/admin/keys"), Route::Admin(AdminPath::Keys));
        assert_eq!(
            admin("/admin/keys/vk_0123456789abcdef"),
            Route::Admin(AdminPath::Key("vk_0123456789abcdef".into()))
        );
        assert_eq!(
            route(&Method::PATCH, "/admin/keys/vk_1", None),
            Route::Admin(AdminPath::Key("vk_1".into()))
        );
        assert_eq!(
            admin("/admin/keys/vk_1/usage"),
            Route::Admin(AdminPath::Usage("vk_1".into()))
        );
        assert_eq!(admin("/admin/keys/vk_1/other"), Route::NotFound);
        assert_eq!(admin("/admin/keysx"), Route::NotFound);
        assert_eq!(admin("/admin/keys//usage"), Route::NotFound);
    }

    #[test]
    fn ops_routes_are_get_only() {
        assert_eq!(route(&Method::GET, "/healthz", None), Route::Healthz);
        assert_eq!(route(&Method::POST, "/healthz", None), Route::NotFound);
        assert_eq!(route(&Method::GET, "/stats", None), Route::Stats);
        assert_eq!(route(&Method::GET, "/metrics", None), Route::Metrics);
        assert_eq!(
            route(&Method::GET, "/v1beta/models", None),
            Route::GeminiModels
        );
        assert_eq!(route(&Method::GET, "/nope", None), Route::NotFound);
    }
}
