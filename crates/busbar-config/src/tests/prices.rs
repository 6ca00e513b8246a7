//! The catalog's models and prices, `models.NAME.price`, aliases and the
//! warning about models without a price.

use super::*;
use crate::{Money, Rate};

/// A catalog with one priced Anthropic model and one OpenAI model.
const PRICED: &str = "
providers:
  anthropic:
    protocol: anthropic
    base_url: https://api.anthropic.com
    price_source: {url: https://example.com/pricing, checked: 2026-12-07}
    models:
      claude-sonnet-4-5:
        input: 3
        output: 15
        cache_read: 0.30
        cache_write: '3.75'
        cache_write_1h: 6
        context_window: 200000
        max_output: 64000
        long_context:
          - {above: 200000, input: 6, output: 22.5, cache_read: 0.6, cache_write: 7.5}
  openai:
    protocol: openai
    base_url: https://api.openai.com
    models:
      gpt-4.1: {input: 2, output: 8, cache_read: 0.5}
";

fn config(models: &str) -> String {
    format!(
        "listen: 127.0.0.1:8080\nproviders:\n  anthropic: {{api_key_env: ANTHROPIC_KEY}}\n  openai: {{api_key_env: OPENAI_KEY}}\n  local: {{protocol: openai, base_url: 'http://127.0.0.1:1', allow_private: true, api_key_env: OPENAI_KEY}}\nmodels:\n{models}"
    )
}

fn per_mtok(dollars: u64) -> Rate {
    Rate::from_picodollars(dollars * 1_000_000)
}

#[test]
fn a_dated_id_finds_its_model_in_the_catalog() {
    let loaded = load_priced(
        PRICED,
        &config("  sonnet: {provider: anthropic, max_concurrent: 1, upstream_model: claude-sonnet-4-5-20250929}\n"),
        &example_env(),
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let model = &loaded.config.models["sonnet"];
    let listing = model.listing.as_ref().expect("listed");
    assert_eq!(listing.id, "claude-sonnet-4-5");
    assert_eq!(listing.context_window, Some(200_000));
    assert_eq!(listing.max_output, Some(64_000));
    assert_eq!(model.context_window(), Some(200_000));
    let price = model.price.as_ref().expect("priced");
    assert_eq!(price, &listing.price);
    assert_eq!(price.rates.input, per_mtok(3));
    assert_eq!(
        price.rates.cache_read,
        Some(Rate::from_picodollars(300_000))
    );
    assert_eq!(
        price.rates.cache_write,
        Some(Rate::from_picodollars(3_750_000))
    );
    assert_eq!(price.rates.cache_write_1h, Some(per_mtok(6)));
    assert_eq!(price.tiers.len(), 1);
    assert_eq!(price.tiers[0].above, 200_000);
    assert_eq!(
        price.tiers[0].rates.output,
        Rate::from_picodollars(22_500_000)
    );
    assert_eq!(price.per_request, Money::ZERO);
}

#[test]
fn a_price_in_config_replaces_the_catalogs_and_prices_unlisted_models() {
    let loaded = load_priced(
        PRICED,
        &config(
            "  gpt: {provider: openai, max_concurrent: 1, upstream_model: gpt-4.1-2025-04-14, price: {input: 1, output: 4}}\n  mine: {provider: local, max_concurrent: 1, price: {input: 0, output: 0, per_request: 0.002}}\n",
        ),
        &example_env(),
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let gpt = &loaded.config.models["gpt"];
    let price = gpt.price.as_ref().expect("priced");
    assert_eq!(
        (price.rates.input, price.rates.output),
        (per_mtok(1), per_mtok(4))
    );
    // The whole price is replaced: cache reads now cost what input does.
    assert_eq!(price.rates.cache_read, None);
    // The catalog's listing is still known.
    assert_eq!(
        gpt.listing.as_ref().map(|l| l.price.rates.cache_read),
        Some(Some(Rate::from_picodollars(500_000)))
    );
    let mine = &loaded.config.models["mine"];
    assert_eq!(mine.listing, None);
    assert_eq!(
        mine.price.as_ref().map(|p| p.per_request.to_string()),
        Some("$0.002".to_owned())
    );
}

#[test]
fn models_without_a_price_are_named_in_one_warning() {
    let loaded = load_priced(
        PRICED,
        &config("  a: {provider: anthropic, max_concurrent: 1}\n  b: {provider: local, max_concurrent: 1, upstream_model: llama}\n  c: {provider: openai, max_concurrent: 1, upstream_model: gpt-4.1}\n"),
        &example_env(),
    );
    assert_eq!(
        loaded.warnings,
        ["models: the catalog has no price for `a` (`a` at `anthropic`), `b` (`llama` at `local`), so their tokens are counted but not their cost; set models.NAME.price (`{input: 0, output: 0}` for a free model)"]
    );
    assert_eq!(loaded.config.models["a"].price, None);
}

#[test]
fn price_errors_name_their_fields() {
    assert_eq!(
        errors_with(
            PRICED,
            &config("  a: {provider: anthropic, max_concurrent: 1, price: {input: -1, output: '1.2.3', cache_read: true, reasoning: 0.0000001, per_request: x, long_context: [{input: 1, output: 1}, {above: 5, input: 1, output: 1}, {above: 5, input: 2}], colour: red}}\n  b: {provider: openai, max_concurrent: 1, price: {input: 1}}\n"),
            &example_env(),
        ),
        [
            "config.yaml: models.a.price.colour: unknown field; expected one of: `input`, `output`, `cache_read`, `cache_write`, `cache_write_1h`, `reasoning`, `per_request`, `long_context`",
            "config.yaml: models.a.price.input: must be a non-negative amount of dollars such as `3` or `0.075`",
            "config.yaml: models.a.price.output: must be a non-negative amount of dollars such as `3` or `0.075`",
            "config.yaml: models.a.price.cache_read: expected an amount of dollars, found a boolean",
            "config.yaml: models.a.price.reasoning: has more than 6 decimal places",
            "config.yaml: models.a.price.per_request: must be a non-negative amount of dollars such as `3` or `0.075`",
            "config.yaml: models.a.price.long_context[0].above: required",
            "config.yaml: models.a.price.long_context[2].output: required",
            "config.yaml: models.b.price.output: required",
        ]
    );
}

#[test]
fn catalog_listings_are_checked_like_any_entry() {
    let catalog = "
providers:
  a:
    protocol: openai
    base_url: https://a.example.com
    price_source: {url: 'http://a.example.com', checked: yesterday}
    models:
      m1: {input: 1, output: 2, context_window: 0, colour: red}
      m2: {output: 2, long_context: [{above: 10, input: 1, output: 1}, {above: 10, input: 2, output: 2}]}
  b:
    protocol: openai
    base_url: https://b.example.com
    price_source: {}
";
    let config = "providers:\n  a: {api_key_env: OPENAI_KEY, models: {}}\nmodels:\n  m: {provider: a, max_concurrent: 1}\n";
    assert_eq!(
        errors_with(catalog, config, &example_env()),
        [
            "providers.yaml: providers.a.models.m1.colour: unknown field; expected one of: `input`, `output`, `cache_read`, `cache_write`, `cache_write_1h`, `reasoning`, `per_request`, `long_context`, `context_window`, `max_output`",
            "providers.yaml: providers.a.models.m1.context_window: must be >= 1",
            "providers.yaml: providers.a.models.m2.input: required",
            "providers.yaml: providers.a.models.m2.long_context[1].above: another tier starts above 10",
            "providers.yaml: providers.a.price_source.url: must be an https:// URL",
            "providers.yaml: providers.a.price_source.checked: must be a date written YYYY-MM-DD",
            "providers.yaml: providers.b.price_source.url: required",
            "providers.yaml: providers.b.price_source.checked: required",
            "config.yaml: providers.a.models: unknown field; expected one of: `protocol`, `base_url`, `path`, `auth`, `error_map`, `health`, `region`, `allow_private`, `platform`, `project`, `location`, `api_version`, `api_key_env`, `credentials`, `aws_profile`",
        ]
    );
}

#[test]
fn bedrock_profiles_and_versions_find_the_plain_listing() {
    let catalog = "
providers:
  bedrock-eu:
    protocol: bedrock
    base_url: https://bedrock-runtime.eu-west-1.amazonaws.com
    models:
      anthropic.claude-haiku-4-5: {input: 1, output: 5}
";
    let config = "listen: 127.0.0.1:1\nproviders:\n  bedrock-eu: {api_key_env: AWS_BEDROCK_CREDS}\nmodels:\n  haiku: {provider: bedrock-eu, max_concurrent: 1, upstream_model: 'eu.anthropic.claude-haiku-4-5-20251001-v1:0'}\n";
    let loaded = load_priced(catalog, config, &example_env());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.models["haiku"]
            .listing
            .as_ref()
            .map(|l| l.id.as_str()),
        Some("anthropic.claude-haiku-4-5")
    );
}

#[test]
fn the_shipped_catalog_prices_the_flagship_models_by_their_dated_ids() {
    let config = config(
        "  sonnet: {provider: anthropic, max_concurrent: 1, upstream_model: claude-sonnet-4-5-20250929}\n  haiku: {provider: anthropic, max_concurrent: 1, upstream_model: claude-haiku-4-5-20251001}\n  gpt: {provider: openai, max_concurrent: 1, upstream_model: gpt-4.1-2025-04-14}\n  old-4o: {provider: openai, max_concurrent: 1, upstream_model: gpt-4o-2024-05-13}\n",
    );
    let loaded = load_priced(CATALOG, &config, &example_env());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cost = |model: &str, usage: &busbar_ir::Usage| {
        loaded.config.models[model]
            .price
            .as_ref()
            .expect("priced")
            .cost(usage)
            .to_string()
    };
    let mut cached = busbar_ir::Usage::new(100_000, 100_000);
    cached.cache_read_tokens = Some(50_000);
    // 50k cache reads at $0.30, 50k more in at $3, 100k out at $15 (per
    // million).
    assert_eq!(cost("sonnet", &cached), "$1.665");
    assert_eq!(cost("gpt", &cached), "$0.925");
    // Past 200k the whole request moves to the 1M-context rates.
    let mut long = busbar_ir::Usage::new(1_000_000, 1_000_000);
    long.cache_read_tokens = Some(500_000);
    assert_eq!(cost("sonnet", &long), "$25.80");
    assert_eq!(cost("haiku", &busbar_ir::Usage::new(1_000_000, 0)), "$1.00");
    // A snapshot listed on its own keeps its own price.
    assert_eq!(
        cost("old-4o", &busbar_ir::Usage::new(1_000_000, 0)),
        "$5.00"
    );
    assert_eq!(
        loaded.config.models["sonnet"].context_window(),
        Some(200_000)
    );
}

#[test]
fn every_shipped_listing_has_input_and_output_prices() {
    let mut w = crate::walk::Walker::new("providers.yaml");
    let catalog = crate::catalog::read(&mut w, &crate::yaml::parse(CATALOG).expect("YAML"));
    assert!(w.into_errors().is_empty());
    for provider in ["openai", "responses", "anthropic", "gemini"] {
        let listings = &catalog.listings[provider];
        assert!(listings.len() >= 5, "{provider}");
        for listing in listings.values() {
            assert!(
                listing.price.rates.output > listing.price.rates.input
                    || listing.id.contains("haiku-3"),
                "{}",
                listing.id
            );
        }
    }
    // Some open-weight models cost the same both ways.
    for provider in ["cohere", "bedrock", "bedrock-ap-south-1"] {
        let listings = &catalog.listings[provider];
        assert!(listings.len() >= 4, "{provider}");
        for listing in listings.values() {
            assert!(
                listing.price.rates.output >= listing.price.rates.input,
                "{}",
                listing.id
            );
        }
    }
}

/// `config.yaml` switching on the shipped Cohere and Bedrock entries, with
/// `models`.
fn shipped(models: &str) -> String {
    format!(
        "listen: 127.0.0.1:8080\nproviders:\n  cohere: {{api_key_env: OPENAI_KEY}}\n  bedrock: {{api_key_env: AWS_BEDROCK_CREDS}}\n  bedrock-eu-west-1: {{api_key_env: AWS_BEDROCK_CREDS}}\nmodels:\n{models}"
    )
}

#[test]
fn the_shipped_catalog_prices_cohere_by_its_full_ids() {
    let loaded = load_priced(
        CATALOG,
        &shipped("  a: {provider: cohere, max_concurrent: 1, upstream_model: command-a-03-2025}\n  r7b: {provider: cohere, max_concurrent: 1, upstream_model: command-r7b-12-2024}\n"),
        &example_env(),
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let a = &loaded.config.models["a"];
    assert_eq!(a.context_window(), Some(256_000));
    let usage = busbar_ir::Usage::new(1_000_000, 1_000_000);
    assert_eq!(
        a.price.as_ref().expect("priced").cost(&usage).to_string(),
        "$12.50"
    );
    assert_eq!(
        loaded.config.models["r7b"]
            .price
            .as_ref()
            .expect("priced")
            .cost(&usage)
            .to_string(),
        "$0.1875"
    );
}

#[test]
fn the_shipped_catalog_prices_bedrock_ids_as_converse_takes_them() {
    let models = [
        (
            "sonnet",
            "bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "haiku",
            "bedrock-eu-west-1",
            "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("nova", "bedrock", "us.amazon.nova-2-lite-v1:0"),
        ("nova-global", "bedrock", "global.amazon.nova-2-lite-v1:0"),
        ("oss", "bedrock", "openai.gpt-oss-120b-1:0"),
        ("terra", "bedrock", "in.openai.gpt-5.6-terra"),
        ("r1", "bedrock", "us.deepseek.r1-v1:0"),
    ];
    let lines: String = models
        .iter()
        .map(|(name, provider, id)| {
            format!(
                "  {name}: {{provider: {provider}, max_concurrent: 1, upstream_model: '{id}'}}\n"
            )
        })
        .collect();
    let loaded = load_priced(CATALOG, &shipped(&lines), &example_env());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let listed = |model: &str| {
        loaded.config.models[model]
            .listing
            .as_ref()
            .map(|l| l.id.clone())
    };
    let expected = [
        ("sonnet", "anthropic.claude-sonnet-4-5"),
        ("haiku", "anthropic.claude-haiku-4-5"),
        ("nova", "amazon.nova-2-lite"),
        ("nova-global", "global.amazon.nova-2-lite-v1:0"),
        ("oss", "openai.gpt-oss-120b-1:0"),
        ("terra", "openai.gpt-5.6-terra"),
        ("r1", "deepseek.r1"),
    ];
    for (model, id) in expected {
        assert_eq!(listed(model).as_deref(), Some(id), "{model}");
    }
    let cost = |model: &str, usage: &busbar_ir::Usage| {
        loaded.config.models[model]
            .price
            .as_ref()
            .expect("priced")
            .cost(usage)
            .to_string()
    };
    // The same rates as Anthropic's own: 50k cache reads at $0.30, 50k
    // more in at $3, 100k out at $15 (per million).
    let mut cached = busbar_ir::Usage::new(100_000, 100_000);
    cached.cache_read_tokens = Some(50_000);
    assert_eq!(cost("sonnet", &cached), "$1.665");
    let million = busbar_ir::Usage::new(1_000_000, 1_000_000);
    assert_eq!(cost("nova", &million), "$3.08");
    assert_eq!(cost("nova-global", &million), "$2.80");
    assert_eq!(cost("oss", &million), "$0.75");
    // Past 272k the whole request moves to the long-context rates.
    assert_eq!(cost("terra", &million), "$24.20");
    assert_eq!(
        loaded.config.models["haiku"].context_window(),
        Some(200_000)
    );
}
