//! Every model of the zoo (`client/testdata/zoo`) through `LiveModel`: each is uploaded as
//! the next version of one model and promoted; the live model swaps to it (a regressor
//! after a classifier, strings after numbers) and its answers for records — strings,
//! whole numbers, missing values — are scikit-learn's.

use capstan_client::cache::BlobCache;
use capstan_client::live::LiveModel;
use capstan_client::live::{Backoff, SseSource};
use capstan_client::runtime::Prediction;
use capstan_tests::{spawn_app, zoo};
use serde_json::{json, Value};

use crate::support::{client, wait_serving};

/// A live answer in the shape of the JSON `predict` answer.
fn as_predict_answer(prediction: &Prediction, classes: &[capstan_client::ClassLabel]) -> Value {
    match prediction {
        Prediction::Classes(answer) => json!({
            "classes": classes,
            "predictions": answer.predictions,
            "probabilities": answer.probabilities,
        }),
        Prediction::Values(answer) if answer.values.ncols() == 1 => {
            json!({ "predictions": answer.values.column(0).to_vec() })
        }
        Prediction::Values(answer) => {
            let rows: Vec<Vec<f64>> = answer.values.outer_iter().map(|r| r.to_vec()).collect();
            json!({ "predictions": rows })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_model_swaps_through_the_whole_zoo() {
    let app = spawn_app().await;
    app.create_model("zoo").await;
    let models = zoo::models();
    let first = &models[0];
    let (status, body) = app
        .upload_with("zoo", &zoo::upload_metadata(first), zoo::bytes(first))
        .await;
    assert_eq!(status, 201, "{body}");
    app.promote("zoo", "production", &json!({"version": 1}))
        .await;
    let cache = tempfile::tempdir().unwrap();
    let live = LiveModel::builder("zoo@production".parse().unwrap())
        .client(client(&app))
        .cache(BlobCache::new(cache.path()))
        .source(SseSource::new(client(&app)))
        .backoff(Backoff::default())
        .start()
        .await
        .unwrap();

    for (index, model) in models.iter().enumerate() {
        let version = index as i64 + 1;
        if version > 1 {
            let (status, body) = app
                .upload_with("zoo", &zoo::upload_metadata(model), zoo::bytes(model))
                .await;
            assert_eq!(status, 201, "{}: {body}", model["file"]);
            let (status, body) = app
                .promote("zoo", "production", &json!({"version": version}))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        wait_serving(&live, version).await;
        let answer = live
            .predict_records(&zoo::records(model))
            .unwrap_or_else(|e| panic!("{}: {e}", model["file"]));
        assert_eq!(answer.model.version, version);
        let classes = answer.model.predictor.classes().to_vec();
        zoo::check_predict_answer(model, &as_predict_answer(&answer.prediction, &classes));
    }
}

/// A version holding an MLflow model directory: the live model pulls the whole tree into
/// the cache (each file verified) and serves the file its `onnx` flavor names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_model_serves_an_mlflow_tree() {
    let app = spawn_app().await;
    app.create_model("zoo").await;
    let model = zoo::model("logistic");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("MLmodel"),
        "flavors:\n  onnx:\n    data: model.onnx\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("model.onnx"), zoo::bytes(&model)).unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "onnx\n").unwrap();
    let meta = capstan_client::types::NewVersion {
        format: "mlflow".into(),
        signature: Some(serde_json::from_value(json!({"inputs": model["features"]})).unwrap()),
        ..Default::default()
    };
    let pushed = client(&app)
        .push_tree(&"zoo".parse().unwrap(), dir.path(), meta)
        .await
        .unwrap();
    assert!(pushed.version.servable);
    app.promote("zoo", "production", &json!({"version": 1}))
        .await;
    let cache = tempfile::tempdir().unwrap();
    let live = LiveModel::builder("zoo@production".parse().unwrap())
        .client(client(&app))
        .cache(BlobCache::new(cache.path()))
        .source(SseSource::new(client(&app)))
        .backoff(Backoff::default())
        .start()
        .await
        .unwrap();
    wait_serving(&live, 1).await;
    let answer = live.predict_records(&zoo::records(&model)).unwrap();
    assert_eq!(answer.model.digest, pushed.version.digest.unwrap());
    let classes = answer.model.predictor.classes().to_vec();
    zoo::check_predict_answer(&model, &as_predict_answer(&answer.prediction, &classes));
}
