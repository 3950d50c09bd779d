//! The model server (pattern 2) follows its registry's events: with polling all but off,
//! a promotion is served within moments.

use std::time::Duration;

use serde_json::Value;

use capstan_tests::{spawn_app, spawn_model_server};

use crate::support::{bc_with_versions, promote};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_server_swaps_on_events_not_polls() {
    let app = spawn_app().await;
    let versions = bc_with_versions(&app, &[1.0, 100.0]).await;
    // A safety-net poll of ten minutes: any swap below comes from an event.
    let server = spawn_model_server(&app.base, &["bc@production"], 600_000).await;
    let http = reqwest::Client::new();
    let serving = |version: i64| {
        let (http, base) = (http.clone(), server.base.clone());
        move || {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let meta: Value = http
                    .get(format!("{base}/v2/models/bc"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                meta["versions"] == serde_json::json!([version.to_string()])
            }
        }
    };
    assert!(
        app.eventually(Duration::from_secs(5), serving(versions[0].version))
            .await
    );
    for target in [
        versions[1].version,
        versions[0].version,
        versions[1].version,
    ] {
        promote(&app, target).await;
        assert!(
            app.eventually(Duration::from_secs(2), serving(target))
                .await,
            "the model server did not serve version {target} within 2 s of its promotion"
        );
    }
}
