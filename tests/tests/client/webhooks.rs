//! `capstan webhooks …` against a live registry: create (the secret printed once), list,
//! show, pause, resume, rotate the secret, the delivery log, delete, and the exit codes of
//! what the registry refuses.

use capstan_client::types::{Webhook, WebhookDelivery, WebhookStatus};
use capstan_registry::webhooks::WebhooksConfig;
use capstan_tests::{spawn_with, TestOptions};

use crate::support::capstan;

fn webhook_of(stdout: &str) -> Webhook {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not a Webhook ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_created_listed_paused_rotated_and_deleted() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = spawn_with(TestOptions {
        webhooks: Some(WebhooksConfig {
            allow_private: true,
            ..WebhooksConfig::default()
        }),
        ..TestOptions::default()
    })
    .await;
    // Nothing listens there: attempts fail, which the delivery log shows.
    let url = "http://127.0.0.1:9/hook";
    let created = capstan(
        &app,
        cache,
        &[
            "webhooks",
            "create",
            url,
            "--events",
            "model_created,stage_changed",
            "--model",
            "fraud",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let webhook = webhook_of(&created.stdout);
    assert!(webhook.secret.as_deref().unwrap().starts_with("whsec_"));
    assert_eq!(webhook.events, ["model_created", "stage_changed"]);
    assert_eq!(webhook.status, WebhookStatus::Active);
    let id = webhook.id.as_str();

    let listed = capstan(&app, cache, &["webhooks", "list"]).await.ok();
    assert!(
        listed.stdout.contains(id) && listed.stdout.contains(url),
        "{listed:#?}"
    );
    let shown = capstan(&app, cache, &["webhooks", "show", id]).await.ok();
    assert_eq!(shown.field("status"), "active");
    assert!(!shown.stdout.contains("whsec_"), "the secret is shown once");

    app.create_model("fraud").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let attempts: Vec<WebhookDelivery> = loop {
        let run = capstan(
            &app,
            cache,
            &["webhooks", "deliveries", id, "--output", "json"],
        )
        .await
        .ok();
        let attempts: Vec<WebhookDelivery> = serde_json::from_str(&run.stdout).unwrap();
        if !attempts.is_empty() {
            break attempts;
        }
        assert!(std::time::Instant::now() < deadline, "no attempt logged");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(attempts[0].message_id, format!("evt_{}", attempts[0].seq));
    assert!(attempts[0].error.is_some() && attempts[0].next_retry_at.is_some());

    let paused = capstan(&app, cache, &["webhooks", "pause", id, "--output", "json"])
        .await
        .ok();
    assert_eq!(webhook_of(&paused.stdout).status, WebhookStatus::Paused);
    let resumed = capstan(&app, cache, &["webhooks", "resume", id]).await.ok();
    assert_eq!(resumed.field("status"), "active");
    let rotated = capstan(
        &app,
        cache,
        &["webhooks", "rotate-secret", id, "--output", "json"],
    )
    .await
    .ok();
    let rotated = webhook_of(&rotated.stdout);
    assert_ne!(rotated.secret, webhook.secret);
    assert!(rotated.previous_secret_expires_at.is_some());

    let refused = capstan(
        &app,
        cache,
        &["webhooks", "create", url, "--events", "no_such_kind"],
    )
    .await;
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stderr.contains("unknown event kind"),
        "{refused:#?}"
    );

    capstan(&app, cache, &["webhooks", "delete", id]).await.ok();
    let gone = capstan(&app, cache, &["webhooks", "show", id]).await;
    assert_eq!(gone.code, 3, "{gone:#?}");
}
