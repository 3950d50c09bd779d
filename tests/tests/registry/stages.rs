use serde_json::json;

use capstan_tests::{assert_problem, spawn_app};

#[tokio::test]
async fn promote_and_resolve_by_stage() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    let (status, promoted) = app
        .promote(
            "bc",
            "production",
            &json!({"version": v1, "reason": "first release"}),
        )
        .await;
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(promoted["version"], v1);
    assert_eq!(promoted["stages"], json!(["production"]));
    let (_, resolved) = app.get_json("/api/v1/models/bc/versions/production").await;
    assert_eq!(resolved["version"], v1);

    let (status, _) = app
        .promote("bc", "production", &json!({"version": v2}))
        .await;
    assert_eq!(status, 200);
    let (_, resolved) = app.get_json("/api/v1/models/bc/versions/production").await;
    assert_eq!(resolved["version"], v2);
    let (_, old) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(old["stages"], json!([]));

    let (_, events) = app
        .get_json("/api/v1/events?model=bc&kind=stage_changed")
        .await;
    let events = events["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["reason"], "first release");
    assert_eq!(events[0]["to_version"], v1);
    assert_eq!(events[1]["from_version"], v1);
    assert_eq!(events[1]["to_version"], v2);
    assert_eq!(events[1]["stage"], "production");
}

#[tokio::test]
async fn expected_version_guards_against_lost_updates() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    let (status, body) = app
        .promote(
            "bc",
            "production",
            &json!({"version": v1, "expected_version": 5}),
        )
        .await;
    assert_problem(status, &body, 409, "stage_conflict");
    let (status, _) = app
        .promote(
            "bc",
            "production",
            &json!({"version": v1, "expected_version": null}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .promote(
            "bc",
            "production",
            &json!({"version": v2, "expected_version": null}),
        )
        .await;
    assert_problem(status, &body, 409, "stage_conflict");
    let (status, _) = app
        .promote(
            "bc",
            "production",
            &json!({"version": v2, "expected_version": v1}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn concurrent_promotions_with_expected_version_have_one_winner() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let mut versions = Vec::new();
    for i in 0..10u8 {
        versions.push(app.upload("bc", &[i]).await);
    }
    let attempts = versions.iter().map(|v| {
        let app = &app;
        async move {
            app.promote(
                "bc",
                "production",
                &json!({"version": v, "expected_version": null}),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != 200) {
        assert_problem(*status, body, 409, "stage_conflict");
    }
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["production"], winners[0].1["version"]);
    let (_, events) = app.get_json("/api/v1/events?kind=stage_changed").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rollback_returns_to_previous_holders_in_order() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    let v3 = app.upload("bc", b"3").await;
    for v in [v1, v2, v3] {
        app.promote("bc", "production", &json!({"version": v}))
            .await;
    }
    let (status, back) = app
        .post_json(
            "/api/v1/models/bc/stages/production/rollback",
            &json!({"reason": "bad latency"}),
        )
        .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["version"], v2);
    let (_, back) = app
        .post_json("/api/v1/models/bc/stages/production/rollback", &json!({}))
        .await;
    assert_eq!(back["version"], v1);
    let (status, body) = app
        .post_json("/api/v1/models/bc/stages/production/rollback", &json!({}))
        .await;
    assert_problem(status, &body, 409, "no_previous_version");
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["production"], v1);
    let (_, events) = app.get_json("/api/v1/events?kind=stage_changed").await;
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["from_version"], v2);
    assert_eq!(last["to_version"], v1);
    assert_eq!(last["reason"], "rollback");
    // Rollback without a body works too.
    let response = app
        .http
        .post(app.url("/api/v1/models/bc/stages/staging/rollback"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn only_ready_unarchived_versions_can_be_promoted() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (_, pending) = app
        .post_json("/api/v1/models/bc/versions", &json!({"format": "opaque"}))
        .await;
    let (status, body) = app
        .promote("bc", "production", &json!({"version": pending["version"]}))
        .await;
    assert_problem(status, &body, 409, "version_not_ready");
    let (status, body) = app
        .promote("bc", "production", &json!({"version": 99}))
        .await;
    assert_problem(status, &body, 404, "version_not_found");
    let v = app.upload("bc", b"x").await;
    let (status, archived) = app
        .post_json(
            &format!("/api/v1/models/bc/versions/{v}/archive"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{archived}");
    assert!(archived["archived_at"].is_string());
    let (status, body) = app.promote("bc", "staging", &json!({"version": v})).await;
    assert_problem(status, &body, 409, "version_archived");
    let (status, body) = app.promote("bc", "canary", &json!({"version": v})).await;
    assert_problem(status, &body, 400, "invalid_stage");
}

#[tokio::test]
async fn archive_rules() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let (status, body) = app
        .post_json(
            &format!("/api/v1/models/bc/versions/{v1}/archive"),
            &json!({}),
        )
        .await;
    assert_problem(status, &body, 409, "version_in_stage");
    app.put_json("/api/v1/models/bc/aliases/old", &json!({"version": v2}))
        .await;
    let (status, archived) = app
        .post_json("/api/v1/models/bc/versions/old/archive", &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(archived["version"], v2);
    assert_eq!(
        archived["aliases"],
        json!([]),
        "archiving removes the version's aliases"
    );
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(
        model["latest_version"], v1,
        "latest skips archived versions"
    );
    // An archived version can still be fetched by number.
    let response = app
        .get(&format!("/api/v1/models/bc/versions/{v2}/artifact"))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn aliases() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    let (status, alias) = app
        .put_json(
            "/api/v1/models/bc/aliases/champion",
            &json!({"version": v1}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        alias,
        json!({"model": "bc", "alias": "champion", "version": v1})
    );
    let (_, resolved) = app.get_json("/api/v1/models/bc/versions/champion").await;
    assert_eq!(resolved["version"], v1);
    assert_eq!(resolved["aliases"], json!(["champion"]));
    app.put_json(
        "/api/v1/models/bc/aliases/champion",
        &json!({"version": v2}),
    )
    .await;
    let (_, resolved) = app.get_json("/api/v1/models/bc/versions/champion").await;
    assert_eq!(resolved["version"], v2);

    for reserved in [
        "7",
        "latest",
        "staging",
        "production",
        "Champion",
        "a..b",
        "%2e%2e",
    ] {
        let (status, body) = app
            .put_json(
                &format!("/api/v1/models/bc/aliases/{reserved}"),
                &json!({"version": v1}),
            )
            .await;
        assert!(
            status == 400 || status == 404,
            "{reserved}: {status} {body}"
        );
        if status == 400 {
            assert!(
                body["code"] == "invalid_alias" || body["code"] == "invalid_ref",
                "{body}"
            );
        }
    }
    let (status, body) = app
        .put_json("/api/v1/models/bc/aliases/x", &json!({"version": 42}))
        .await;
    assert_problem(status, &body, 404, "version_not_found");

    let (status, _) = app.delete("/api/v1/models/bc/aliases/champion").await;
    assert_eq!(status, 204);
    let (status, body) = app.delete("/api/v1/models/bc/aliases/champion").await;
    assert_problem(status, &body, 404, "alias_not_found");
    let (status, body) = app.get_json("/api/v1/models/bc/versions/champion").await;
    assert_problem(status, &body, 404, "version_not_found");
}

#[tokio::test]
async fn remove_from_stage_then_roll_back_and_bodies_are_checked() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    app.promote("bc", "staging", &json!({"version": v1})).await;
    // An optional body that is there must be valid.
    for path in [
        "/api/v1/models/bc/stages/staging",
        "/api/v1/models/bc/stages/staging/rollback",
    ] {
        let method = if path.ends_with("rollback") {
            reqwest::Method::POST
        } else {
            reqwest::Method::DELETE
        };
        let response = app
            .http
            .request(method, app.url(path))
            .json(&json!({"reason": "", "unknown": 42}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_problem(status, &body, 400, "invalid_body");
    }
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["staging"], v1, "nothing moved");

    let response = app
        .http
        .delete(app.url("/api/v1/models/bc/stages/staging"))
        .json(&json!({"reason": "pulled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["staging"], serde_json::Value::Null);
    let (_, events) = app
        .get_json("/api/v1/events?model=bc&kind=stage_changed")
        .await;
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["from_version"], v1);
    assert_eq!(last["to_version"], serde_json::Value::Null);
    assert_eq!(last["reason"], "pulled");
    // A rollback puts the removed version back.
    let (status, back) = app
        .post_json("/api/v1/models/bc/stages/staging/rollback", &json!({}))
        .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["version"], v1);
    // `null` is no body, as the document's nullable body says.
    let response = app
        .http
        .delete(app.url("/api/v1/models/bc/stages/staging"))
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
}

/// Sends `body` as JSON with `method` to `path`; the status and the JSON answer (`null`
/// when there is none).
async fn send(
    app: &capstan_tests::TestApp,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = app
        .http
        .request(method, app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn alias_moves_and_archiving_keep_their_reasons() {
    use reqwest::Method;
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let champion = "/api/v1/models/bc/aliases/champion";
    let archive = format!("/api/v1/models/bc/versions/{v1}/archive");

    // Bad reasons and unknown fields are refused and change nothing.
    for bad in [
        json!({"version": v1, "reason": "nul\u{0}"}),
        json!({"version": v1, "reason": 42}),
        json!({"version": v1, "reason": "x".repeat(16_385)}),
        json!({"version": v1, "why": "typo"}),
    ] {
        let (status, body) = send(&app, Method::PUT, champion, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(
            body["type"].as_str().map(|t| t.contains("problems/")),
            Some(true),
            "{body}"
        );
    }
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["aliases"], json!({}), "nothing was set");

    let (status, body) = send(
        &app,
        Method::PUT,
        champion,
        json!({"version": v1, "reason": "best on the holdout ü"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (method, path) in [(Method::DELETE, champion), (Method::POST, archive.as_str())] {
        let (status, body) = send(&app, method.clone(), path, json!({"reason": 7})).await;
        assert_problem(status, &body, 400, "invalid_body");
    }
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["aliases"]["champion"], v1, "still set");

    let (status, body) = send(
        &app,
        Method::DELETE,
        champion,
        json!({"reason": "experiment over"}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = send(
        &app,
        Method::POST,
        &archive,
        json!({"reason": "superseded"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["archived_at"].is_string(), "{body}");

    let (_, page) = app.get_json("/api/v1/events?model=bc").await;
    let reasons: Vec<(String, serde_json::Value)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("alias_") || k == "version_archived")
        })
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["reason"].clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("alias_set".to_owned(), json!("best on the holdout ü")),
            ("alias_removed".to_owned(), json!("experiment over")),
            ("version_archived".to_owned(), json!("superseded")),
        ]
    );
}
