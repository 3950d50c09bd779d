//! Values in the database that no code path writes (an older or newer release's, a manual
//! edit) are errors when read, never silently taken for something else.

use capstan_tests::{assert_problem, spawn_app};

#[tokio::test]
async fn an_unknown_version_status_is_an_error_not_pending() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let version = app.upload("bc", b"model bytes").await;
    let path = format!("/api/v1/models/bc/versions/{version}");
    let (status, body) = app.get_json(&path).await;
    assert_eq!((status, &body["status"]), (200, &"ready".into()), "{body}");

    app.execute_sql("UPDATE versions SET status = 'archiving'");
    let (status, body) = app.get_json(&path).await;
    assert_problem(status, &body, 500, "internal");
    let (status, body) = app.get_json("/api/v1/models/bc/versions").await;
    assert_problem(status, &body, 500, "internal");
}

#[tokio::test]
async fn an_unknown_event_kind_is_an_error() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (status, _) = app.get_json("/api/v1/events").await;
    assert_eq!(status, 200);

    app.execute_sql("UPDATE events SET kind = 'model_teleported'");
    let (status, body) = app.get_json("/api/v1/events").await;
    assert_problem(status, &body, 500, "internal");
}
