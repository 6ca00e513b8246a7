//! The cloud platforms' paths around the vendors' formats, parsed once for
//! the formats that take them: Vertex AI's publisher-model paths (Claude's
//! `:rawPredict`, Gemini's `:generateContent`) and Azure OpenAI's
//! `/openai/…` paths (OpenAI Chat and Responses).
//!
//! Only the parsing lives here; each format's `wire.rs` decides which
//! methods it answers, so a format's routes stay in one place. The project,
//! location and Azure `api-version` say where a cloud would serve the
//! request; Busbar routes by the model name alone and ignores them.

use crate::wire::model_segment;

/// A cloud platform whose paths wrap a vendor's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Platform {
    /// Google Vertex AI (`…/publishers/P/models/M:method`).
    Vertex,
    /// Azure OpenAI (`/openai/deployments/D/…`, `/openai/v1/…`).
    Azure,
}

/// What a request path is to Vertex AI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VertexPath<'a> {
    /// Not a Vertex path.
    No,
    /// A path under `publishers/{publisher}` that names no model method
    /// (a missing part, an empty or badly escaped model, a trailing slash).
    Malformed {
        /// The publisher the path names (`anthropic`, `google`).
        publisher: &'a str,
    },
    /// A method on a publisher's model.
    Method {
        /// The publisher (`anthropic`, `google`).
        publisher: &'a str,
        /// The model id, percent-decoded (`claude-sonnet-4-5@20250929`).
        model: String,
        /// What follows the model's `:` (`rawPredict`, `generateContent`).
        method: &'a str,
    },
}

/// Reads `[/v1|/v1beta1]/projects/P/locations/L/publishers/X/models/M:method`
/// or, for a client whose base URL is a collection, `/publishers/X/models/M:method`
/// (both with or without the version, since SDKs differ on whether the base
/// URL holds it).
pub(crate) fn vertex_path(path: &str) -> VertexPath<'_> {
    // Every Vertex path, malformed ones included, names a publisher: other
    // paths leave without an allocation.
    if !path.contains("publishers/") {
        return VertexPath::No;
    }
    let rest = path
        .strip_prefix("/v1beta1/")
        .or_else(|| path.strip_prefix("/v1/"))
        .or_else(|| path.strip_prefix('/'))
        .unwrap_or(path);
    let segments: Vec<&str> = rest.split('/').collect();
    let tail = match segments.first() {
        Some(&"projects") => {
            let located = segments.len() >= 4
                && !segments[1].is_empty()
                && segments[2] == "locations"
                && !segments[3].is_empty();
            if !located {
                return malformed(&segments);
            }
            &segments[4..]
        }
        Some(&"publishers") => &segments[..],
        _ => return VertexPath::No,
    };
    let [_, publisher, "models", last] = tail else {
        return malformed(&segments);
    };
    if tail[0] != "publishers" || publisher.is_empty() {
        return malformed(&segments);
    }
    let Some((model, method)) = last.rsplit_once(':') else {
        return VertexPath::Malformed { publisher };
    };
    match model_segment(model) {
        Some(model) if !method.is_empty() => VertexPath::Method {
            publisher,
            model,
            method,
        },
        _ => VertexPath::Malformed { publisher },
    }
}

/// A malformed Vertex path: the publisher's, if it names one.
fn malformed<'a>(segments: &[&'a str]) -> VertexPath<'a> {
    segments
        .iter()
        .position(|segment| *segment == "publishers")
        .and_then(|at| segments.get(at + 1))
        .filter(|publisher| !publisher.is_empty())
        .map_or(VertexPath::No, |publisher| VertexPath::Malformed {
            publisher,
        })
}

/// An Azure OpenAI path, `/openai/deployments/D/REST`, `/openai/v1/REST` or
/// `/openai/REST`: the deployment (percent-decoded), if the path names one,
/// and the OpenAI path it stands for (`/chat/completions`, `/responses`).
/// `None` when the path is not under `/openai/` or names an empty or badly
/// escaped deployment.
pub(crate) fn azure_path(path: &str) -> Option<(Option<String>, &str)> {
    let rest = path.strip_prefix("/openai")?;
    if let Some(deployed) = rest.strip_prefix("/deployments/") {
        let (deployment, rest) = deployed.split_at(deployed.find('/')?);
        return Some((Some(model_segment(deployment)?), rest));
    }
    let rest = rest
        .strip_prefix("/v1")
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(rest);
    rest.starts_with('/').then_some((None, rest))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;
    use crate::wire::{percent_encode, PathMatch};
    use crate::Protocol;

    proptest! {
        /// Any path, however odd, gets an answer from every format, never a
        /// panic; and any model id survives the trip through a Vertex path.
        #[test]
        fn every_path_is_answered_and_models_round_trip(
            path in "(/(v1|v1beta1|projects|locations|publishers|anthropic|google|models|openai|deployments|[a-z@%:.-]{0,6})){0,10}",
            model in "[ -~]{1,24}",
        ) {
            for protocol in Protocol::ALL {
                let _ = protocol.wire().route(&path, Some("alt=sse"));
            }
            let vertex = format!(
                "/v1/projects/p/locations/l/publishers/anthropic/models/{}:rawPredict",
                percent_encode(&model)
            );
            let PathMatch::Route(route) = Protocol::Anthropic.wire().route(&vertex, None) else {
                return Err(TestCaseError::fail(format!("{vertex} not routed")));
            };
            let counting = model == "count-tokens";
            prop_assert_eq!(route.model.is_none(), counting);
            if !counting {
                prop_assert_eq!(route.model.as_deref(), Some(model.as_str()));
            }
        }
    }

    fn method<'a>(publisher: &'a str, model: &str, method: &'a str) -> VertexPath<'a> {
        VertexPath::Method {
            publisher,
            model: model.to_owned(),
            method,
        }
    }

    #[test]
    fn vertex_paths_with_and_without_version_and_project() {
        let full = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict";
        assert_eq!(
            vertex_path(full),
            method(
                "anthropic",
                "claude-sonnet-4-5@20250929",
                "streamRawPredict"
            )
        );
        assert_eq!(
            vertex_path(&full[3..]),
            method(
                "anthropic",
                "claude-sonnet-4-5@20250929",
                "streamRawPredict"
            )
        );
        assert_eq!(
            vertex_path("/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"),
            method("google", "gemini-2.5-flash", "generateContent")
        );
        assert_eq!(
            vertex_path("/publishers/google/models/g:countTokens"),
            method("google", "g", "countTokens")
        );
        // Percent-escapes in the model are decoded; the method's `:` is the last raw one.
        assert_eq!(
            vertex_path(
                "/v1/projects/p/locations/l/publishers/anthropic/models/claude%40v%3A1:rawPredict"
            ),
            method("anthropic", "claude@v:1", "rawPredict")
        );
    }

    #[test]
    fn malformed_vertex_paths_name_their_publisher() {
        let bad = |publisher| VertexPath::Malformed { publisher };
        for path in [
            "/v1/projects/p/locations/l/publishers/anthropic/models/:rawPredict",
            "/v1/projects/p/locations/l/publishers/anthropic/models/m",
            "/v1/projects/p/locations/l/publishers/anthropic/models/m:",
            "/v1/projects/p/locations/l/publishers/anthropic/models/m:rawPredict/",
            "/v1/projects/p/locations/l/publishers/anthropic/models/bad%zz:rawPredict",
            "/v1/projects/p/publishers/anthropic/models/m:rawPredict",
            "/v1/projects//locations/l/publishers/anthropic/models/m:rawPredict",
            "/v1/projects/p/locations/l/publishers/anthropic/m:rawPredict",
        ] {
            assert_eq!(vertex_path(path), bad("anthropic"), "{path}");
        }
        assert_eq!(
            vertex_path("/publishers/google/models/a/b:generateContent"),
            bad("google")
        );
        for path in [
            "/v1/projects/p/locations/l",
            "/v1/projects/p/locations/l/publishers//models/m:rawPredict",
            "/v1/models/g:generateContent",
            "/v1/messages",
            "/",
            "",
        ] {
            assert_eq!(vertex_path(path), VertexPath::No, "{path}");
        }
    }

    #[test]
    fn azure_paths() {
        assert_eq!(
            azure_path("/openai/deployments/gpt-4o/chat/completions"),
            Some((Some("gpt-4o".to_owned()), "/chat/completions"))
        );
        assert_eq!(
            azure_path("/openai/deployments/a%20b/responses"),
            Some((Some("a b".to_owned()), "/responses"))
        );
        assert_eq!(
            azure_path("/openai/v1/chat/completions"),
            Some((None, "/chat/completions"))
        );
        assert_eq!(azure_path("/openai/responses"), Some((None, "/responses")));
        assert_eq!(azure_path("/openai/v1"), Some((None, "/v1")));
        assert_eq!(
            azure_path("/openai/v1x/responses"),
            Some((None, "/v1x/responses"))
        );
        assert_eq!(azure_path("/openai/deployments//chat/completions"), None);
        assert_eq!(azure_path("/openai/deployments/d"), None);
        assert_eq!(azure_path("/openai/deployments/bad%zz/responses"), None);
        assert_eq!(azure_path("/openaix/responses"), None);
        assert_eq!(azure_path("/v1/chat/completions"), None);
    }
}
