//! Which route a request is for: the ingress protocol and where the model
//! name comes from.

use busbar_protocols::wire::percent_decode;
use busbar_protocols::{Endpoint, IngressRoute, PathMatch, Protocol};
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
    /// `GET` of a protocol's model list (OpenAI's `/v1/models`, Gemini's
    /// `/v1beta/models`).
    Models(Protocol),
    /// The governance admin API, any method (the handler checks it).
    Admin(AdminPath),
    /// A request to proxy.
    Proxy(Ingress),
    /// A token-count request (Anthropic `count_tokens`, Gemini
    /// `:countTokens`, Responses `input_tokens`, Bedrock `count-tokens`).
    Count(Ingress),
    /// A known path with the wrong method.
    MethodNotAllowed { protocol: Protocol },
    /// A path in a protocol's namespace (`/v1beta/models/…`, a Vertex
    /// `…/publishers/anthropic/…`) that names none of its endpoints: a 404
    /// in that protocol's shape.
    NoEndpoint { protocol: Protocol },
    /// Nothing here.
    NotFound,
}

impl Route {
    /// The protocol whose shape an error on this route takes: the model
    /// route's, else OpenAI's (Busbar's own routes answer in it).
    pub(crate) fn protocol(&self) -> Protocol {
        match self {
            Route::Proxy(ingress) | Route::Count(ingress) => ingress.protocol,
            Route::MethodNotAllowed { protocol }
            | Route::NoEndpoint { protocol }
            | Route::Models(protocol) => *protocol,
            _ => Protocol::OpenAi,
        }
    }
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
    /// `/admin/spend`, with the URL's query string.
    Spend(Option<String>),
}

/// A model request as its URL describes it (the protocol's own reading of
/// its paths).
pub(crate) type Ingress = IngressRoute;

/// Matches a request line; `query` is the URL's query string, if any.
///
/// Busbar's own routes come first; then each protocol reads the path (see
/// [`busbar_protocols::Wire::route`]): the first that claims it decides,
/// and a path a protocol takes only as a fallback is its when no other
/// claims it.
pub(crate) fn route(method: &Method, path: &str, query: Option<&str>) -> Route {
    // HEAD is answered wherever GET is (hyper sends the headers only).
    let get = method == Method::GET || method == Method::HEAD;
    match path {
        "/healthz" if get => return Route::Healthz,
        "/stats" if get => return Route::Stats,
        "/metrics" if get => return Route::Metrics,
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/admin/keys") {
        return admin(rest).map_or(Route::NotFound, Route::Admin);
    }
    if path == "/admin/spend" {
        return Route::Admin(AdminPath::Spend(query.map(str::to_owned)));
    }
    if get {
        let lists = |protocol: &Protocol| protocol.wire().model_list_paths().contains(&path);
        if let Some(protocol) = Protocol::ALL.iter().find(|protocol| lists(protocol)) {
            return Route::Models(*protocol);
        }
    }
    let mut fallback = None;
    for protocol in Protocol::ALL {
        match protocol.wire().route(path, query) {
            PathMatch::No => {}
            PathMatch::NotFound => return Route::NoEndpoint { protocol },
            PathMatch::Route(ingress) => return model_route(method, ingress),
            PathMatch::Fallback(ingress) => {
                fallback.get_or_insert(ingress);
            }
        }
    }
    fallback.map_or(Route::NotFound, |ingress| model_route(method, ingress))
}

/// A protocol's route: POST only.
fn model_route(method: &Method, ingress: Ingress) -> Route {
    if method != Method::POST {
        return Route::MethodNotAllowed {
            protocol: ingress.protocol,
        };
    }
    match ingress.endpoint {
        Endpoint::Generate => Route::Proxy(ingress),
        Endpoint::CountTokens => Route::Count(ingress),
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

#[cfg(test)]
mod tests {
    use busbar_protocols::Platform;

    use super::*;

    fn ingress(protocol: Protocol, endpoint: Endpoint, name: Option<&str>) -> Ingress {
        let ingress = Ingress::new(protocol, endpoint);
        match name {
            Some(name) => ingress.with_model(name.to_owned()),
            None => ingress,
        }
    }

    fn proxy(protocol: Protocol, name: Option<&str>) -> Route {
        Route::Proxy(ingress(protocol, Endpoint::Generate, name))
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
            let mut ingress =
                ingress(Protocol::Gemini, Endpoint::Generate, Some(name)).with_stream(stream);
            ingress.json_array = json_array;
            Route::Proxy(ingress)
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
        let gemini_404 = Route::NoEndpoint {
            protocol: Protocol::Gemini,
        };
        assert_eq!(post("/v1beta/models/g:embedContent"), gemini_404);
        assert_eq!(post("/v1beta/models/:generateContent"), gemini_404);
    }

    #[test]
    fn bedrock_converse_and_stream() {
        let bedrock = |name: &str, stream| {
            Route::Proxy(
                ingress(Protocol::Bedrock, Endpoint::Generate, Some(name)).with_stream(stream),
            )
        };
        assert_eq!(post("/model/m/converse"), bedrock("m", false));
        assert_eq!(
            post("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"),
            bedrock("anthropic.claude-3-5-sonnet-20240620-v1:0", true)
        );
        assert_eq!(
            post("/model/m/retrieve"),
            Route::NoEndpoint {
                protocol: Protocol::Bedrock
            }
        );
    }

    #[test]
    fn bedrock_invoke_model_and_stream() {
        let invoke = |name: &str, stream| {
            Route::Proxy(
                ingress(Protocol::BedrockInvoke, Endpoint::Generate, Some(name))
                    .with_stream(stream),
            )
        };
        // The Anthropic SDK leaves the `:` as it is; boto3 percent-encodes it.
        assert_eq!(
            post("/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"),
            invoke("us.anthropic.claude-sonnet-4-5-20250929-v1:0", false)
        );
        assert_eq!(
            post("/model/anthropic.claude-v1%3A0/invoke-with-response-stream"),
            invoke("anthropic.claude-v1:0", true)
        );
    }

    #[test]
    fn count_routes_for_each_counting_protocol() {
        let count = |protocol, name: Option<&str>| {
            Route::Count(ingress(protocol, Endpoint::CountTokens, name))
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
            Route::Count(ingress(protocol, Endpoint::CountTokens, Some(name)).with_stream(false))
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
        assert_eq!(
            post("/model//count-tokens"),
            Route::NoEndpoint {
                protocol: Protocol::Bedrock
            }
        );
        assert_eq!(
            route(&Method::GET, "/v1/messages/count_tokens", None),
            Route::MethodNotAllowed {
                protocol: Protocol::Anthropic
            }
        );
    }

    #[test]
    fn vertex_claude_paths() {
        let claude = |name: &str| {
            Route::Proxy(
                ingress(Protocol::Anthropic, Endpoint::Generate, Some(name)).on(Platform::Vertex),
            )
        };
        let base = "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models";
        assert_eq!(
            post(&format!("{base}/claude-sonnet-4-5@20250929:rawPredict")),
            claude("claude-sonnet-4-5@20250929")
        );
        // Streaming is the body's `stream`, as on `/v1/messages`.
        assert_eq!(
            post(&format!(
                "{base}/claude-sonnet-4-5%4020250929:streamRawPredict?x=1"
            )),
            claude("claude-sonnet-4-5@20250929")
        );
        // A base URL without `/v1`, and the global location.
        assert_eq!(
            post("/projects/p/locations/global/publishers/anthropic/models/c:rawPredict"),
            claude("c")
        );
        assert_eq!(
            post(&format!("{base}/count-tokens:rawPredict")),
            Route::Count(
                ingress(Protocol::Anthropic, Endpoint::CountTokens, None).on(Platform::Vertex)
            )
        );
        let claude_404 = Route::NoEndpoint {
            protocol: Protocol::Anthropic,
        };
        for bad in [
            format!("{base}/count-tokens:streamRawPredict"),
            format!("{base}/c:predict"),
            format!("{base}/c:rawPredict/"),
            format!("{base}/:rawPredict"),
            format!("{base}/c"),
            format!("{base}/bad%zz:rawPredict"),
            "/v1/projects/p/publishers/anthropic/models/c:rawPredict".to_owned(),
        ] {
            assert_eq!(post(&bad), claude_404, "{bad}");
        }
        assert_eq!(
            route(&Method::GET, &format!("{base}/c:rawPredict"), None),
            Route::MethodNotAllowed {
                protocol: Protocol::Anthropic
            }
        );
        // No publisher: no protocol's path.
        assert_eq!(post("/v1/projects/p/locations/l"), Route::NotFound);
        assert_eq!(
            post("/v1/projects/p/locations/l/publishers/meta/models/m:rawPredict"),
            Route::NotFound
        );
    }

    #[test]
    fn vertex_gemini_paths() {
        let gemini = |name: &str, endpoint, stream, json_array| {
            let mut ingress = ingress(Protocol::Gemini, endpoint, Some(name))
                .with_stream(stream)
                .on(Platform::Vertex);
            ingress.json_array = json_array;
            match endpoint {
                Endpoint::Generate => Route::Proxy(ingress),
                _ => Route::Count(ingress),
            }
        };
        let base = "/v1beta1/projects/p/locations/us-central1/publishers/google/models";
        assert_eq!(
            post(&format!("{base}/gemini-2.5-flash:generateContent")),
            gemini("gemini-2.5-flash", Endpoint::Generate, false, false)
        );
        assert_eq!(
            post(&format!("{base}/g:streamGenerateContent?alt=sse")),
            gemini("g", Endpoint::Generate, true, false)
        );
        assert_eq!(
            post(
                "/v1/projects/p/locations/global/publishers/google/models/g:streamGenerateContent"
            ),
            gemini("g", Endpoint::Generate, true, true)
        );
        assert_eq!(
            post(&format!("{base}/g:countTokens")),
            gemini("g", Endpoint::CountTokens, false, false)
        );
        assert_eq!(
            post("/publishers/google/models/a%2Fb:generateContent"),
            gemini("a/b", Endpoint::Generate, false, false)
        );
        let gemini_404 = Route::NoEndpoint {
            protocol: Protocol::Gemini,
        };
        assert_eq!(post(&format!("{base}/g:embedContent")), gemini_404);
        assert_eq!(post(&format!("{base}/g:rawPredict")), gemini_404);
        assert_eq!(post(&format!("{base}/g:generateContent/")), gemini_404);
        assert_eq!(
            post("/v1beta1/projects/p/locations/l/publishers/google/g:generateContent"),
            gemini_404
        );
    }

    #[test]
    fn azure_openai_paths() {
        let chat = |name: Option<&str>| {
            Route::Proxy(ingress(Protocol::OpenAi, Endpoint::Generate, name).on(Platform::Azure))
        };
        let responses = |endpoint, name: Option<&str>| {
            let ingress = ingress(Protocol::Responses, endpoint, name).on(Platform::Azure);
            match endpoint {
                Endpoint::Generate => Route::Proxy(ingress),
                _ => Route::Count(ingress),
            }
        };
        assert_eq!(
            post("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"),
            chat(Some("gpt-4o"))
        );
        assert_eq!(
            post("/openai/deployments/my%20deployment/chat/completions"),
            chat(Some("my deployment"))
        );
        assert_eq!(post("/openai/v1/chat/completions"), chat(None));
        assert_eq!(
            post("/openai/responses?api-version=2025-04-01-preview"),
            responses(Endpoint::Generate, None)
        );
        assert_eq!(
            post("/openai/v1/responses"),
            responses(Endpoint::Generate, None)
        );
        assert_eq!(
            post("/openai/deployments/d/responses"),
            responses(Endpoint::Generate, Some("d"))
        );
        assert_eq!(
            post("/openai/v1/responses/input_tokens"),
            responses(Endpoint::CountTokens, None)
        );
        for bad in [
            "/openai/deployments//chat/completions",
            "/openai/deployments/d",
            "/openai/deployments/d/chat/completions/",
            "/openai/deployments/bad%zz/chat/completions",
            "/openai/deployments/d/embeddings",
            "/openai/v1/models/x",
        ] {
            assert_eq!(post(bad), Route::NotFound, "{bad}");
        }
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
        assert_eq!(
            route(&Method::GET, "/admin/spend", Some("from=2025-06-01")),
            Route::Admin(AdminPath::Spend(Some("from=2025-06-01".into())))
        );
        assert_eq!(
            route(&Method::POST, "/admin/spend", None),
            Route::Admin(AdminPath::Spend(None))
        );
        assert_eq!(admin("/admin/spend/x"), Route::NotFound);
    }

    #[test]
    fn ops_routes_are_get_only() {
        assert_eq!(route(&Method::GET, "/healthz", None), Route::Healthz);
        assert_eq!(route(&Method::HEAD, "/healthz", None), Route::Healthz);
        assert_eq!(
            route(&Method::HEAD, "/v1/models", None),
            Route::Models(Protocol::OpenAi)
        );
        assert_eq!(route(&Method::POST, "/healthz", None), Route::NotFound);
        assert_eq!(route(&Method::GET, "/stats", None), Route::Stats);
        assert_eq!(route(&Method::GET, "/metrics", None), Route::Metrics);
        assert_eq!(
            route(&Method::GET, "/v1beta/models", None),
            Route::Models(Protocol::Gemini)
        );
        assert_eq!(
            route(&Method::GET, "/v1/models", None),
            Route::Models(Protocol::OpenAi)
        );
        assert_eq!(
            route(&Method::GET, "/models", None),
            Route::Models(Protocol::OpenAi)
        );
        assert_eq!(route(&Method::GET, "/nope", None), Route::NotFound);
    }
}
