//! Catalog merge, per-deployment overrides, keys, the SSRF guard and
//! upstream URLs.

use std::time::Duration;

use super::*;
use crate::{AuthMode, AuthScheme, Credentials, FailureClass, HealthMode, Protocol};

const LOCAL_CATALOG: &str = "
providers:
  hosted:
    protocol: openai
    base_url: https://llm.example.com/prefix/
    error_map: {a: rate_limit, b: billing}
    health: {mode: dead, interval_secs: 10}
  local:
    protocol: openai
    base_url: http://127.0.0.1:8000
    allow_private: true
";

fn one_model(provider: &str, provider_yaml: &str) -> String {
    format!(
        "listen: 127.0.0.1:8080\nproviders:\n  {provider}:\n{provider_yaml}models:\n  m:\n    provider: {provider}\n    max_concurrent: 1\n"
    )
}

#[test]
fn deployment_fields_override_the_catalog_and_error_maps_merge() {
    let config = one_model(
        "hosted",
        "    api_key_env: OPENAI_KEY
    path: /openai/deployments/{model}/chat/completions?api-version=2024-10-21
    auth: api-key
    error_map: {b: auth, c: context_length}
    health: {timeout_secs: 2}
    region: eu-west-1
",
    );
    let provider = &load_with(LOCAL_CATALOG, &config, &example_env())
        .config
        .providers["hosted"];
    assert_eq!(provider.protocol, Protocol::OpenAi);
    assert_eq!(provider.base_url, "https://llm.example.com/prefix");
    assert_eq!(provider.auth, AuthScheme::ApiKey);
    assert_eq!(provider.region.as_deref(), Some("eu-west-1"));
    let map: Vec<(&str, FailureClass)> = provider
        .error_map
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        map,
        [
            ("a", FailureClass::RateLimit),
            ("b", FailureClass::Auth),
            ("c", FailureClass::ContextLength)
        ]
    );
    // Health merges field by field: mode and interval from the catalog.
    assert_eq!(provider.health.mode, HealthMode::Dead);
    assert_eq!(provider.health.interval, Duration::from_secs(10));
    assert_eq!(provider.health.timeout, Duration::from_secs(2));
    assert_eq!(
        provider.url("gpt 4o", false),
        "https://llm.example.com/prefix/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
    );
    // Chat Completions has no counting endpoint, whatever the path.
    assert_eq!(provider.count_url("gpt 4o"), None);
}

#[test]
fn protocol_and_base_url_can_be_overridden() {
    let config = one_model(
        "hosted",
        "    api_key_env: OPENAI_KEY\n    protocol: responses\n    base_url: https://other.example.com/\n",
    );
    let provider = &load_with(LOCAL_CATALOG, &config, &example_env())
        .config
        .providers["hosted"];
    assert_eq!(provider.protocol, Protocol::Responses);
    assert_eq!(
        provider.url("m", false),
        "https://other.example.com/v1/responses"
    );
    assert_eq!(
        provider.count_url("m").as_deref(),
        Some("https://other.example.com/v1/responses/input_tokens")
    );
}

#[test]
fn providers_outside_the_catalog_are_defined_inline() {
    let config = one_model(
        "my-vllm",
        "    api_key_env: OPENAI_KEY\n    protocol: openai\n    base_url: http://10.0.0.5:8000/\n    allow_private: true\n",
    );
    let provider = &load(&config).config.providers["my-vllm"];
    assert_eq!(provider.base_url, "http://10.0.0.5:8000");
    assert!(provider.allow_private);
    assert!(provider.error_map.is_empty());
}

#[test]
fn unknown_providers_need_protocol_and_base_url() {
    let errors = errors(&one_model(
        "antropic",
        "    api_key_env: ANTHROPIC_KEY\n    protocol: anthropic\n",
    ));
    assert_eq!(
        errors,
        ["config.yaml: providers.antropic: not in the provider catalog (did you mean `anthropic`?); define `protocol` and `base_url` here to add it inline"]
    );
}

#[test]
fn ssrf_guard_applies_to_overrides_and_allow_private_lifts_it() {
    for (base_url, why) in [
        ("http://api.example.com", "must use https://"),
        ("https://localhost:8000", "a localhost name"),
        ("https://169.254.169.254", "a cloud metadata address"),
        ("https://2130706433", "unusual spelling"),
        ("https://127.1", "unusual spelling"),
        ("https://[::1]", "a loopback address"),
        ("https://100.64.1.1", "carrier-grade NAT"),
    ] {
        let config = one_model(
            "hosted",
            &format!("    api_key_env: OPENAI_KEY\n    base_url: {base_url}\n"),
        );
        let errors = errors_with(LOCAL_CATALOG, &config, &example_env());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("config.yaml: providers.hosted.base_url: "),
            "{errors:?}"
        );
        assert!(errors[0].contains(why), "{base_url}: {errors:?}");
    }
    let config = one_model(
        "hosted",
        "    api_key_env: OPENAI_KEY\n    base_url: http://localhost:8000\n    allow_private: true\n",
    );
    assert!(
        load_with(LOCAL_CATALOG, &config, &example_env())
            .config
            .providers["hosted"]
            .allow_private
    );
}

#[test]
fn revoking_allow_private_rechecks_the_catalog_url() {
    let config = one_model(
        "local",
        "    api_key_env: OPENAI_KEY\n    allow_private: false\n",
    );
    let errors = errors_with(LOCAL_CATALOG, &config, &example_env());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("config.yaml: providers.local.base_url: must use https://"));
    // Kept as the catalog says, it loads.
    let config = one_model("local", "    api_key_env: OPENAI_KEY\n");
    assert!(
        load_with(LOCAL_CATALOG, &config, &example_env())
            .config
            .providers["local"]
            .allow_private
    );
}

#[test]
fn a_private_catalog_entry_without_allow_private_is_a_catalog_error() {
    let catalog = "bad: {protocol: openai, base_url: 'https://192.168.0.10'}\n";
    let errors = errors_with(
        catalog,
        &one_model("bad", "    api_key_env: OPENAI_KEY\n"),
        &example_env(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]
        .starts_with("providers.yaml: bad.base_url: host `192.168.0.10` is a private address"));
}

#[test]
fn api_key_env_is_required_and_must_be_set_and_non_empty() {
    let mut vars = example_env();
    vars.insert("EMPTY_KEY".into(), String::new());
    vars.insert("SPACED_KEY".into(), "sk-abc ".into());
    for (yaml, expected) in [
        ("    health: {mode: dead}\n", "providers.anthropic.api_key_env: required: the name of the environment variable holding this provider's key"),
        ("    api_key_env: MISSING_KEY\n", "providers.anthropic.api_key_env: environment variable `MISSING_KEY` is not set"),
        ("    api_key_env: EMPTY_KEY\n", "providers.anthropic.api_key_env: environment variable `EMPTY_KEY` is empty"),
        ("    api_key_env: SPACED_KEY\n", "providers.anthropic.api_key_env: environment variable `SPACED_KEY` holds whitespace or control characters"),
        ("    api_key_env: sk-ant-api03-secret\n", "providers.anthropic.api_key_env: must be the name of an environment variable (letters, digits and `_`), not the secret itself"),
    ] {
        let errors = errors_with(CATALOG, &one_model("anthropic", yaml), &vars);
        assert_eq!(errors, [format!("config.yaml: {expected}")]);
        assert!(!errors[0].contains("secret\n"), "the value is never echoed");
    }
}

#[test]
fn passthrough_needs_no_provider_keys() {
    let config = format!(
        "auth: {{mode: passthrough}}\n{}",
        one_model("anthropic", "    health: {mode: none}\n")
    );
    let loaded = load_with(CATALOG, &config, &env(&[]));
    assert_eq!(loaded.config.auth.mode, AuthMode::Passthrough);
    let provider = &loaded.config.providers["anthropic"];
    assert_eq!(
        (provider.api_key_env.as_deref(), provider.api_key.as_ref()),
        (None, None)
    );

    // A named but unset variable is no error under passthrough either.
    let config = format!(
        "auth: {{mode: passthrough}}\n{}",
        one_model("anthropic", "    api_key_env: NOPE\n")
    );
    assert_eq!(
        load_with(CATALOG, &config, &env(&[])).config.providers["anthropic"].api_key,
        None
    );
}

#[test]
fn bedrock_keys_must_have_the_aws_shape() {
    let mut vars = example_env();
    for bad in ["just-one-part", "a:b:c:d", "AKID::token", ":secret"] {
        vars.insert("CREDS".into(), bad.into());
        let errors = errors_with(
            CATALOG,
            &one_model("bedrock", "    api_key_env: CREDS\n"),
            &vars,
        );
        assert_eq!(
            errors,
            ["config.yaml: providers.bedrock.api_key_env: environment variable `CREDS` must hold ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]"],
            "{bad}"
        );
    }
    vars.insert("CREDS".into(), "AKID:secret:session-token".into());
    let loaded = load_with(
        CATALOG,
        &one_model("bedrock-eu-west-1", "    api_key_env: CREDS\n"),
        &vars,
    );
    let provider = &loaded.config.providers["bedrock-eu-west-1"];
    let creds = provider.aws_credentials().unwrap();
    assert_eq!(
        creds.session_token.as_ref().map(|t| t.expose()),
        Some("session-token")
    );
    assert_eq!(provider.aws_region(), "eu-west-1");
}

#[test]
fn bedrock_region_falls_back_to_the_field_then_us_east_1() {
    let catalog = "
gw: {protocol: bedrock, base_url: 'https://bedrock-gw.example.com', region: ap-south-1}
plain: {protocol: bedrock, base_url: 'https://bedrock-gw.example.com'}
";
    let config = "listen: 127.0.0.1:1\nproviders:\n  gw: {api_key_env: C}\n  plain: {api_key_env: C}\nmodels:\n  m: {provider: gw, max_concurrent: 1}\n";
    let loaded = load_with(catalog, config, &env(&[("C", "a:b")]));
    assert_eq!(loaded.config.providers["gw"].aws_region(), "ap-south-1");
    assert_eq!(loaded.config.providers["plain"].aws_region(), "us-east-1");
}

#[test]
fn upstream_paths_follow_the_protocol() {
    let cases = [
        (Protocol::OpenAi, false, "/v1/chat/completions"),
        (Protocol::Responses, true, "/v1/responses"),
        (Protocol::Anthropic, true, "/v1/messages"),
        (Protocol::Cohere, false, "/v2/chat"),
        (
            Protocol::Gemini,
            false,
            "/v1beta/models/gemini-2.5-pro:generateContent",
        ),
        (
            Protocol::Gemini,
            true,
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        ),
        (Protocol::Bedrock, false, "/model/gemini-2.5-pro/converse"),
        (
            Protocol::Bedrock,
            true,
            "/model/gemini-2.5-pro/converse-stream",
        ),
    ];
    for (protocol, stream, path) in cases {
        assert_eq!(
            protocol.wire().upstream_path("gemini-2.5-pro", stream),
            path
        );
        assert_eq!(Protocol::from_name(protocol.name()), Some(protocol));
    }
    assert_eq!(
        Protocol::Bedrock
            .wire()
            .upstream_path("arn:aws:bedrock:us-east-1:123:inference-profile/x", true),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fx/converse-stream"
    );
}

#[test]
fn keys_are_redacted_in_debug_output() {
    let loaded = load(POOL);
    let debug = format!("{loaded:?}");
    for secret in ["sk-ant-test-key", "sk-openai-test-key", "client-token-1"] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
    assert!(debug.contains("Secret(<redacted>)"));
}

#[test]
fn a_bedrock_api_key_under_bearer_auth_is_any_token() {
    let providers = "providers:\n  bedrock:\n    protocol: bedrock\n    base_url: https://bedrock-runtime.us-east-1.amazonaws.com\n";
    let signed = "providers:\n  bedrock: {api_key_env: K}\nmodels:\n  m: {provider: bedrock, max_concurrent: 1}\n";
    let bearer = "providers:\n  bedrock: {api_key_env: K, auth: bearer}\nmodels:\n  m: {provider: bedrock, max_concurrent: 1}\n";
    let env: std::collections::BTreeMap<String, String> =
        [("K".to_owned(), "bedrock-api-key-abc".to_owned())].into();
    let errors = crate::load_str(providers, signed, &env)
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("ACCESS_KEY_ID:SECRET_ACCESS_KEY"),
        "{errors}"
    );
    assert!(crate::load_str(providers, bearer, &env).is_ok());
}

#[test]
fn a_bedrock_provider_may_take_the_aws_credential_chain_instead_of_a_key() {
    let config = one_model(
        "bedrock",
        "    credentials: aws\n    aws_profile: prod-bedrock\n",
    );
    let provider = &load(&config).config.providers["bedrock"];
    assert_eq!(
        provider.credentials,
        Credentials::Aws {
            profile: Some("prod-bedrock".into())
        }
    );
    assert_eq!((&provider.api_key, &provider.api_key_env), (&None, &None));
    assert_eq!(provider.aws_credentials(), None);
    assert_eq!(
        provider.credentials.to_string(),
        "AWS default credential chain, profile `prod-bedrock`"
    );
    let plain = &load(&one_model("bedrock", "    credentials: aws\n"))
        .config
        .providers["bedrock"];
    assert_eq!(plain.credentials, Credentials::Aws { profile: None });
    // 1.x configurations keep their static key.
    let keyed = &load(&one_model(
        "bedrock",
        "    api_key_env: AWS_BEDROCK_CREDS\n",
    ))
    .config
    .providers["bedrock"];
    assert_eq!(keyed.credentials, Credentials::ApiKey);
    assert!(keyed.aws_credentials().is_some());
}

#[test]
fn credential_sources_are_checked() {
    let cases = [
        (
            one_model("bedrock", ""),
            "config.yaml: providers.bedrock.api_key_env: required: the name of the environment variable holding this provider's key, or `credentials: aws` for the AWS default credential chain",
        ),
        (
            one_model("bedrock", "    credentials: aws\n    api_key_env: AWS_BEDROCK_CREDS\n"),
            "config.yaml: providers.bedrock.credentials: `aws` and `api_key_env` are two sources of the same credential; keep one",
        ),
        (
            one_model("anthropic", "    credentials: aws\n"),
            "config.yaml: providers.anthropic.credentials: `aws` signs requests with SigV4, which only a `bedrock` or `bedrock-invoke` provider without `auth:` does",
        ),
        (
            one_model("bedrock", "    credentials: aws\n    auth: bearer\n"),
            "config.yaml: providers.bedrock.credentials: `aws` signs requests with SigV4, which only a `bedrock` or `bedrock-invoke` provider without `auth:` does",
        ),
        (
            one_model("bedrock", "    credentials: awz\n"),
            "config.yaml: providers.bedrock.credentials: unknown value `awz`; expected one of: `aws`, `gcp`, `azure`; did you mean `aws`?",
        ),
        (
            one_model("bedrock", "    api_key_env: AWS_BEDROCK_CREDS\n    aws_profile: prod\n"),
            "config.yaml: providers.bedrock.aws_profile: applies only with `credentials: aws`",
        ),
        (
            one_model("bedrock", "    credentials: aws\n    aws_profile: 'two words'\n"),
            "config.yaml: providers.bedrock.aws_profile: must be a profile name of the shared AWS config files",
        ),
        (
            format!(
                "auth: {{mode: passthrough}}\n{}",
                one_model("bedrock", "    credentials: aws\n")
            ),
            "config.yaml: providers.bedrock.credentials: has no use under `auth.mode: passthrough`, where each caller's own credential goes upstream",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(errors(&config), [expected], "{config}");
    }
}

#[test]
fn vertex_providers_take_their_project_and_location_and_mint_google_tokens() {
    let config = "listen: 127.0.0.1:8080
providers:
  vertex:
    credentials: gcp
    project: my-project
    location: europe-west4
  vertex-anthropic:
    api_key_env: OPENAI_KEY
    project: my-project
models:
  gem:
    provider: vertex
    max_concurrent: 1
    upstream_model: gemini-2.5-flash
  claude:
    provider: vertex-anthropic
    max_concurrent: 1
    upstream_model: claude-sonnet-4-5@20250929
";
    let loaded = load(config);
    let gem = &loaded.config.providers["vertex"];
    assert_eq!(gem.credentials, Credentials::Gcp);
    assert_eq!(
        gem.base_url,
        "https://europe-west4-aiplatform.googleapis.com"
    );
    assert_eq!(
        gem.url("gemini-2.5-flash", true),
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        gem.count_url("gemini-2.5-flash").as_deref(),
        Some("https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:countTokens")
    );
    let claude = &loaded.config.providers["vertex-anthropic"];
    assert_eq!(claude.credentials, Credentials::ApiKey);
    assert_eq!(claude.base_url, "https://aiplatform.googleapis.com");
    assert_eq!(
        claude.url("claude-sonnet-4-5@20250929", false),
        "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    );
    assert!(claude
        .url("c@1", true)
        .ends_with("/models/c@1:streamRawPredict"));
    assert_eq!(
        claude.count_url("c@1").as_deref(),
        Some("https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/publishers/anthropic/models/count-tokens:rawPredict")
    );
    for (location, host) in [
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
    ] {
        assert_eq!(crate::Platform::vertex_base_url(location), host);
    }
}

#[test]
fn azure_providers_choose_the_v1_or_the_deployments_api_by_api_version() {
    let config = "listen: 127.0.0.1:8080
providers:
  azure:
    credentials: azure
    base_url: https://res.openai.azure.com
  azure-responses:
    api_key_env: OPENAI_KEY
    base_url: https://res.openai.azure.com
    api_version: 2025-04-01-preview
models:
  gpt:
    provider: azure
    max_concurrent: 1
    upstream_model: my-gpt
  resp:
    provider: azure-responses
    max_concurrent: 1
";
    let loaded = load(config);
    let chat = &loaded.config.providers["azure"];
    assert_eq!(chat.credentials, Credentials::Azure);
    assert_eq!(
        chat.url("my-gpt", false),
        "https://res.openai.azure.com/openai/v1/chat/completions"
    );
    let responses = &loaded.config.providers["azure-responses"];
    assert_eq!(responses.auth, AuthScheme::ApiKey);
    assert_eq!(
        responses.url("my-gpt", true),
        "https://res.openai.azure.com/openai/responses?api-version=2025-04-01-preview"
    );
    assert_eq!(
        responses.count_url("my-gpt").as_deref(),
        Some("https://res.openai.azure.com/openai/responses/input_tokens?api-version=2025-04-01-preview")
    );
    let dated = load(&one_model(
        "azure",
        "    api_key_env: OPENAI_KEY
    base_url: https://res.openai.azure.com
    api_version: 2024-10-21
",
    ));
    assert_eq!(
        dated.config.providers["azure"].url("my gpt", false),
        "https://res.openai.azure.com/openai/deployments/my%20gpt/chat/completions?api-version=2024-10-21"
    );
}

#[test]
fn cloud_platform_fields_and_sources_are_checked() {
    let cases = [
        (
            one_model("vertex", "    credentials: gcp
"),
            "config.yaml: providers.vertex.project: required: the Google Cloud project to call Vertex AI in",
        ),
        (
            one_model("vertex", "    project: p
"),
            "config.yaml: providers.vertex.api_key_env: required: the name of the environment variable holding this provider's key, or `credentials: gcp` for Google Application Default Credentials",
        ),
        (
            one_model("azure", "    credentials: azure
"),
            "config.yaml: providers.azure.base_url: required: your Azure OpenAI resource's endpoint, e.g. `https://NAME.openai.azure.com`",
        ),
        (
            one_model("anthropic", "    credentials: gcp
"),
            "config.yaml: providers.anthropic.credentials: `gcp` mints Google access tokens, which only a `platform: vertex` provider takes",
        ),
        (
            one_model("vertex", "    credentials: azure
    project: p
"),
            "config.yaml: providers.vertex.credentials: `azure` mints Microsoft Entra ID tokens, which only a `platform: azure` provider takes",
        ),
        (
            one_model("vertex", "    credentials: gcp
    project: p
    api_version: v1
"),
            "config.yaml: providers.vertex.api_version: does not apply to `platform: vertex`",
        ),
        (
            one_model("vertex", "    credentials: gcp
    project: p
    protocol: openai
"),
            "config.yaml: providers.vertex.platform: `vertex` serves the `gemini` and `anthropic` protocols, not `openai`",
        ),
        (
            one_model("vertex", "    credentials: gcp
    project: p
    location: Europe West
"),
            "config.yaml: providers.vertex.location: must be a Vertex AI location such as `us-central1`, `global`, `us` or `eu`",
        ),
        (
            one_model("anthropic", "    api_key_env: OPENAI_KEY
    project: p
"),
            "config.yaml: providers.anthropic.project: applies only with a `platform:`",
        ),
        (
            one_model("azure", "    credentials: gcp
    base_url: https://r.openai.azure.com
"),
            "config.yaml: providers.azure.credentials: `gcp` mints Google access tokens, which only a `platform: vertex` provider takes",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(errors(&config), [expected], "{config}");
    }
}
