//! The admin API: the secret shown once, PATCH's absent/null/value rules,
//! suspension, deletion, usage, and the admin token's carriers.

use serde_json::json;

use super::{Governed, ADMIN_TOKEN};
use crate::support::{openai_error, Gateway};

#[tokio::test]
async fn a_key_is_created_once_and_its_secret_never_shown_again() {
    let governed = Governed::start("", "").await;
    let spec = json!({"name": "ci", "allowed_pools": ["fast"], "max_budget_cents": 500,
                      "budget_period": "monthly", "rpm_limit": 60});
    let reply = governed.admin("POST", "/admin/keys", Some(&spec)).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let created = reply.json();
    let secret = created["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert!(
        secret.starts_with("sk-bb-") && secret.len() == 6 + 32,
        "{secret}"
    );
    assert!(id.starts_with("vk_") && id.len() == 3 + 16, "{id}");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["allowed_pools"], json!(["fast"]));
    assert_eq!(created["max_budget_cents"], 500);
    assert_eq!(created["budget_period"], "monthly");
    assert_eq!(created["rpm_limit"], 60);
    assert_eq!(created["tpm_limit"], json!(null));
    assert_eq!(created["enabled"], true);
    assert!(created["created_at"].is_string());

    // Neither the list nor the key shows the secret (or its hash) again.
    let list = governed.admin("GET", "/admin/keys", None).await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(!list.text().contains(&secret), "{}", list.text());
    let keys = list.json()["keys"].as_array().cloned().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert!(keys[0].get("secret").is_none());
    let one = governed
        .admin("GET", &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert!(!one.text().contains(&secret));
    assert_eq!(one.json()["name"], "ci");

    // Invalid fields are 400 naming the field.
    for (spec, field) in [
        (json!({"allowed_pools": []}), "name"),
        (json!({"name": "x", "rpm_limit": 0}), "rpm_limit"),
        (
            json!({"name": "x", "max_budget_cents": -1}),
            "max_budget_cents",
        ),
        (
            json!({"name": "x", "budget_period": "weekly"}),
            "budget_period",
        ),
    ] {
        let reply = governed.admin("POST", "/admin/keys", Some(&spec)).await;
        assert_eq!(reply.status, 400, "{spec}: {}", reply.text());
        let message = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(field), "{spec}: {message}");
    }
    let reply = governed
        .send(
            "POST",
            "/admin/keys",
            "{not json".into(),
            &[("x-admin-token", ADMIN_TOKEN)],
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.json()["error"].is_string());
}

#[tokio::test]
async fn the_admin_token_is_required_as_bearer_or_x_admin_token() {
    let governed = Governed::start("", "").await;
    let spec = json!({"name": "x"}).to_string();
    for headers in [
        vec![],
        vec![("x-admin-token", "wrong")],
        vec![("authorization", "Bearer wrong")],
    ] {
        let reply = governed
            .send("POST", "/admin/keys", spec.clone().into(), &headers)
            .await;
        assert_eq!(reply.status, 401, "{headers:?}: {}", reply.text());
        assert!(reply.json()["error"].is_string());
        let reply = governed.get("/admin/keys", &headers).await;
        assert_eq!(reply.status, 401);
    }
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let reply = governed
        .send(
            "POST",
            "/admin/keys",
            spec.into(),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    // A virtual key is no admin token.
    let secret = reply.json()["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reply = governed
        .get(
            "/admin/keys",
            &[("authorization", &format!("Bearer {secret}"))],
        )
        .await;
    assert_eq!(reply.status, 401);
    // A wrong method on a real path says which ones exist.
    let reply = governed.admin("PUT", "/admin/keys", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, POST"));
}

#[tokio::test]
async fn patch_keeps_what_is_absent_clears_null_and_sets_values() {
    let governed = Governed::start("", "").await;
    let (id, secret) = governed
        .create_key(
            json!({"name": "team", "max_budget_cents": 500, "rpm_limit": 60,
                           "tpm_limit": 1000, "allowed_pools": ["fast"]}),
        )
        .await;
    let path = format!("/admin/keys/{id}");
    let reply = governed
        .admin(
            "PATCH",
            &path,
            Some(&json!({"name": "team-2", "rpm_limit": null})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let key = reply.json();
    assert_eq!(key["name"], "team-2");
    assert_eq!(key["rpm_limit"], json!(null), "null clears");
    assert_eq!(key["max_budget_cents"], 500, "absent stays");
    assert_eq!(key["tpm_limit"], 1000, "absent stays");
    assert_eq!(key["allowed_pools"], json!(["fast"]));
    assert!(key.get("secret").is_none());
    let reply = governed
        .admin(
            "PATCH",
            &path,
            Some(&json!({"max_budget_cents": 7, "allowed_pools": null})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["max_budget_cents"], 7);
    assert_eq!(reply.json()["allowed_pools"], json!([]));
    let reply = governed
        .admin("PATCH", &path, Some(&json!({"tpm_limit": 0})))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("tpm_limit"));

    // Suspended: the key's requests get 401; resumed: they pass again.
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    let reply = governed
        .admin("PATCH", &path, Some(&json!({"enabled": false})))
        .await;
    assert_eq!(reply.json()["enabled"], false);
    let refused = governed.chat(&secret, "fast").await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(openai_error(&refused)["code"], "invalid_api_key");
    let stats = governed
        .get("/stats", &[("authorization", &format!("Bearer {secret}"))])
        .await;
    assert_eq!(stats.status, 401);
    governed
        .admin("PATCH", &path, Some(&json!({"enabled": true})))
        .await;
    assert_eq!(governed.chat(&secret, "fast").await.status, 200);
    let usage = governed.usage(&id).await;
    assert_eq!(usage["id"], id.as_str());
    assert_eq!(usage["requests"], 2);
    assert_eq!(usage["spend_cents"], 2);
    assert!(
        usage["tokens"].as_u64().is_some_and(|tokens| tokens > 0),
        "{usage}"
    );
}

#[tokio::test]
async fn delete_removes_a_key_and_missing_ids_are_404() {
    let governed = Governed::start("", "").await;
    let (id, secret) = governed.create_key(json!({"name": "temp"})).await;
    let path = format!("/admin/keys/{id}");
    let reply = governed.admin("DELETE", &path, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"deleted": id}));
    for (method, path) in [
        ("DELETE", path.clone()),
        ("GET", path.clone()),
        ("PATCH", path.clone()),
        ("GET", format!("{path}/usage")),
        ("GET", "/admin/keys/vk_00000000000000ff".to_owned()),
        ("GET", "/admin/keys/not-an-id".to_owned()),
    ] {
        let body = json!({"name": "again"});
        let reply = governed.admin(method, &path, Some(&body)).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(governed.chat(&secret, "fast").await.status, 401);
    assert!(
        governed.admin("GET", "/admin/keys", None).await.json()["keys"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}

#[tokio::test]
async fn without_governance_the_admin_routes_do_not_exist() {
    let gateway = Gateway::start().await;
    for (method, path) in [
        ("GET", "/admin/keys"),
        ("POST", "/admin/keys"),
        ("GET", "/admin/keys/vk_0123456789abcdef/usage"),
    ] {
        let url = format!("{}{path}", gateway.base);
        let reply = crate::support::Client::new()
            .send(method, &url, "{}".into(), &[("x-admin-token", ADMIN_TOKEN)])
            .await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
    }
}

#[tokio::test]
async fn a_key_name_cannot_forge_a_log_line() {
    let governed = Governed::start("", "").await;
    let name = "ok\r\nFORGED governance line\u{0}\u{1b}[31m";
    let (id, _) = governed.create_key(json!({"name": name})).await;
    // The log is read from the child's output as it comes: wait for the line.
    let mut log = governed.log();
    for _ in 0..100 {
        if log.contains(&id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        log = governed.log();
    }
    assert!(log.contains(&id), "the creation is logged: {log}");
    assert!(
        !log.lines().any(|line| line.starts_with("FORGED")),
        "a client's CR/LF started a line: {log}"
    );
    assert!(
        log.contains("\\r\\nFORGED governance line\\u{0}\\u{1b}[31m"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no raw escape reaches the log: {log}"
    );
}
