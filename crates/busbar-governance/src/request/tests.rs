//! Validation and patch semantics of the admin request bodies.

use serde_json::json;

use super::*;
use crate::window::Timestamp;

fn create(body: serde_json::Value) -> Result<NewKey, AdminError> {
    NewKey::from_json(body.to_string().as_bytes())
}

fn patch(body: serde_json::Value) -> Result<KeyPatch, AdminError> {
    KeyPatch::from_json(body.to_string().as_bytes())
}

fn message(result: Result<impl std::fmt::Debug, AdminError>) -> String {
    match result {
        Err(AdminError::Invalid(message)) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn existing() -> KeyMetadata {
    KeyMetadata {
        id: "vk_0123456789abcdef".into(),
        name: "team-a".into(),
        metadata: Some(
            json!({"owner": "ana"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        allowed_pools: vec!["fast".into()],
        max_budget: Some(Cents::whole(100)),
        budget_period: BudgetPeriod::Daily,
        rpm_limit: Some(10),
        tpm_limit: Some(1000),
        enabled: true,
        created_at: Timestamp::EPOCH,
    }
}

#[test]
fn a_minimal_create_is_unlimited_and_enabled() {
    let key = create(json!({"name": "ci"})).expect("valid");
    assert_eq!(key, NewKey::named("ci"));
}

#[test]
fn a_full_create_keeps_every_field() {
    let key = create(json!({
        "name": "  team-b  ", "metadata": {"team": "b"}, "allowed_pools": ["fast", "fast", "gpt-4o"],
        "max_budget_cents": 12.5, "budget_period": "Monthly", "rpm_limit": 60,
        "tpm_limit": 90000, "enabled": false
    }))
    .expect("valid");
    assert_eq!(key.name, "team-b");
    assert_eq!(
        key.metadata.as_ref().and_then(|m| m.get("team")),
        Some(&json!("b"))
    );
    assert_eq!(key.allowed_pools, ["fast", "gpt-4o"]);
    assert_eq!(key.max_budget, Cents::from_f64(12.5));
    assert_eq!(key.budget_period, BudgetPeriod::Monthly);
    assert_eq!(
        (key.rpm_limit, key.tpm_limit, key.enabled),
        (Some(60), Some(90000), false)
    );
}

#[test]
fn nulls_on_create_mean_defaults() {
    let key = create(json!({
        "name": "x", "metadata": null, "allowed_pools": null, "max_budget_cents": null,
        "budget_period": null, "rpm_limit": null, "tpm_limit": null
    }))
    .expect("valid");
    assert_eq!(key, NewKey::named("x"));
    assert_eq!(
        create(json!({"name": "zero", "max_budget_cents": 0}))
            .expect("valid")
            .max_budget,
        Some(Cents::ZERO)
    );
}

#[test]
fn each_invalid_field_is_named() {
    let cases = [
        (json!({}), "name is required"),
        (json!({"name": ""}), "name must be"),
        (json!({"name": "   "}), "name must be"),
        (json!({"name": 5}), "name must be"),
        (json!({"name": "x".repeat(257)}), "name must be"),
        (
            json!({"name": "a", "metadata": [1]}),
            "metadata must be a JSON object",
        ),
        (
            json!({"name": "a", "allowed_pools": "fast"}),
            "allowed_pools must be",
        ),
        (
            json!({"name": "a", "allowed_pools": [""]}),
            "allowed_pools must be",
        ),
        (
            json!({"name": "a", "allowed_pools": [1]}),
            "allowed_pools must be",
        ),
        (
            json!({"name": "a", "max_budget_cents": -1}),
            "max_budget_cents must be",
        ),
        (
            json!({"name": "a", "max_budget_cents": "10"}),
            "max_budget_cents must be",
        ),
        (
            json!({"name": "a", "max_budget_cents": 1e13}),
            "max_budget_cents must be",
        ),
        (
            json!({"name": "a", "max_budget_cents": 0.0000001}),
            "kept to a millionth of a cent",
        ),
        (
            json!({"name": "a", "allowed_pools": vec!["p"; 1025]}),
            "at most 1024",
        ),
        (json!({"name": "x".repeat(257)}), "at most 256 characters"),
        (
            json!({"name": "a", "budget_period": "weekly"}),
            "budget_period must be",
        ),
        (
            json!({"name": "a", "rpm_limit": 0}),
            "rpm_limit must be an integer ≥ 1",
        ),
        (json!({"name": "a", "rpm_limit": 1.5}), "rpm_limit must be"),
        (json!({"name": "a", "rpm_limit": -3}), "rpm_limit must be"),
        (
            json!({"name": "a", "tpm_limit": 0}),
            "tpm_limit must be an integer ≥ 1",
        ),
        (
            json!({"name": "a", "tpm_limit": u64::MAX}),
            "tpm_limit must be",
        ),
        (
            json!({"name": "a", "enabled": "yes"}),
            "enabled must be true or false",
        ),
        (
            json!({"name": "a", "secret": "sk-bb-x"}),
            "unknown field `secret`",
        ),
        (json!(["name"]), "the body must be a JSON object"),
    ];
    for (body, expected) in cases {
        let got = message(create(body.clone()));
        assert!(got.contains(expected), "{body}: {got}");
    }
    // Finer than a micro-cent rounds to the nearest; the smallest is kept.
    let smallest = create(json!({"name": "a", "max_budget_cents": 0.000001})).expect("valid");
    assert_eq!(smallest.max_budget.map(Cents::micros), Some(1));
    let rounded = create(json!({"name": "a", "max_budget_cents": 1.0000004})).expect("valid");
    assert_eq!(rounded.max_budget.map(Cents::micros), Some(1_000_000));
    let broken = message(NewKey::from_json(b"{\"name\": "));
    assert!(broken.starts_with("the body is not valid JSON"), "{broken}");
}

#[test]
fn an_empty_patch_changes_nothing() {
    let mut key = existing();
    patch(json!({})).expect("valid").apply(&mut key);
    assert_eq!(key, existing());
}

#[test]
fn patch_values_set() {
    let mut key = existing();
    patch(json!({
        "name": "renamed", "metadata": {"owner": "bo"}, "allowed_pools": ["slow"],
        "max_budget_cents": 250, "budget_period": "monthly", "rpm_limit": 5, "tpm_limit": 7,
        "enabled": false
    }))
    .expect("valid")
    .apply(&mut key);
    assert_eq!(key.name, "renamed");
    assert_eq!(
        key.metadata.as_ref().and_then(|m| m.get("owner")),
        Some(&json!("bo"))
    );
    assert_eq!(key.allowed_pools, ["slow"]);
    assert_eq!(key.max_budget, Some(Cents::whole(250)));
    assert_eq!(key.budget_period, BudgetPeriod::Monthly);
    assert_eq!(
        (key.rpm_limit, key.tpm_limit, key.enabled),
        (Some(5), Some(7), false)
    );
    assert_eq!(key.id, existing().id, "the id never changes");
}

#[test]
fn patch_nulls_clear_to_unlimited() {
    let mut key = existing();
    let parsed = patch(json!({
        "metadata": null, "allowed_pools": null, "max_budget_cents": null,
        "budget_period": null, "rpm_limit": null, "tpm_limit": null
    }))
    .expect("valid");
    assert_eq!(parsed.max_budget, Patch::Clear);
    parsed.apply(&mut key);
    assert_eq!(key.metadata, None);
    assert!(key.allowed_pools.is_empty());
    assert_eq!(key.max_budget, None);
    assert_eq!(key.budget_period, BudgetPeriod::Total);
    assert_eq!((key.rpm_limit, key.tpm_limit), (None, None));
    assert!(key.enabled, "absent stays");
    assert_eq!(key.name, "team-a", "absent stays");
}

#[test]
fn patch_absent_fields_stay_while_others_change() {
    let mut key = existing();
    patch(json!({"rpm_limit": null}))
        .expect("valid")
        .apply(&mut key);
    assert_eq!(key.rpm_limit, None);
    assert_eq!(key.tpm_limit, Some(1000));
    assert_eq!(key.max_budget, Some(Cents::whole(100)));
    assert_eq!(key.allowed_pools, ["fast"]);
}

#[test]
fn patch_refuses_nulls_where_nothing_is_unlimited() {
    assert!(message(patch(json!({"name": null}))).starts_with("name must be"));
    assert_eq!(
        message(patch(json!({"enabled": null}))),
        "enabled must be true or false"
    );
    assert_eq!(message(patch(json!({"id": "vk_1"}))), "unknown field `id`");
    assert!(message(patch(json!({"rpm_limit": 0}))).starts_with("rpm_limit"));
}
