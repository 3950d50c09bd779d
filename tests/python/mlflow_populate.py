#!/usr/bin/env python3
"""Fills a real MLflow tracking server with the registry state `capstan import mlflow` is
tested on, using the unmodified `mlflow` client, and prints what it created as JSON.

    python3 mlflow_populate.py TRACKING_URI BREAST_CANCER_CSV OUT_JSON

Model `bc`: five versions, each an ONNX model (scikit-learn StandardScaler + logistic
regression trained on the breast-cancer table, exported with skl2onnx) logged with
`mlflow.onnx.log_model` in its own run (a param `C`, metrics `accuracy` and `log_loss`);
then version 3 is deleted (a gap in the numbers), version 1 archived, versions 2 and 4
both put in Production (MLflow allows it; Capstan keeps one: 4), version 5 in Staging,
aliases `champion` → 4 and `old` → 1 (archived, which Capstan refuses), descriptions and
tags on the model and its versions. Model `Breast Cancer` (a name Capstan cannot hold):
one version of an already logged model.

Writes one JSON object to OUT_JSON (mlflow prints its run links on stdout): the versions with their run's metrics and params, the stages,
aliases and tags as MLflow reports them, 20 rows spread over the table and
`mlflow.pyfunc.load_model("models:/bc/4").predict` for them (labels and probabilities).
"""

import json
import sys

import numpy as np

import mlflow
import mlflow.onnx
from mlflow import MlflowClient
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

MODEL = "bc"
REFUSED = "Breast Cancer"
REGULARISATION = [0.01, 0.1, 1.0, 10.0, 100.0]
ROWS = 20
# Given, so log_model does not spend seconds inferring them.
PIP = ["onnx", "onnxruntime"]


def load(csv_path):
    data = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    return data[:, :-1], data[:, -1].astype(np.int64)


def train(x, y, c):
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=42, stratify=y
    )
    model = Pipeline([
        ("scale", StandardScaler()),
        ("lr", LogisticRegression(C=c, max_iter=5000)),
    ]).fit(x_train, y_train)
    metrics = {
        "accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        "log_loss": float(log_loss(y_test, model.predict_proba(x_test))),
    }
    onx = convert_sklearn(
        model,
        initial_types=[("float_input", FloatTensorType([None, x.shape[1]]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return onx, metrics


def main():
    tracking_uri, csv_path, out_path = sys.argv[1:4]
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("capstan-import")
    client = MlflowClient()
    x, y = load(csv_path)

    versions = {}
    model_uri = None
    for number, c in enumerate(REGULARISATION, start=1):
        onx, metrics = train(x, y, c)
        with mlflow.start_run() as run:
            mlflow.log_param("C", c)
            mlflow.log_metrics(metrics)
            info = mlflow.onnx.log_model(
                onx, name="model", registered_model_name=MODEL, pip_requirements=PIP
            )
        registered = info.registered_model_version
        assert int(registered) == number, (registered, number)
        model_uri = info.model_uri
        versions[number] = {
            "run_id": run.info.run_id,
            "metrics": metrics,
            "params": {"C": str(c)},
        }
        client.update_model_version(MODEL, number, description=f"C={c}")
        client.set_model_version_tag(MODEL, number, "regularisation", str(c))

    client.update_registered_model(MODEL, description="breast cancer classifier")
    client.set_registered_model_tag(MODEL, "team", "ml")
    client.set_registered_model_tag(MODEL, "dataset", "breast-cancer")

    client.delete_model_version(MODEL, 3)
    del versions[3]
    client.transition_model_version_stage(MODEL, 1, "Archived")
    client.transition_model_version_stage(MODEL, 2, "Production")
    client.transition_model_version_stage(
        MODEL, 4, "Production", archive_existing_versions=False
    )
    client.transition_model_version_stage(MODEL, 5, "Staging")
    client.set_registered_model_alias(MODEL, "champion", 4)
    client.set_registered_model_alias(MODEL, "old", 1)

    mlflow.register_model(model_uri, REFUSED)

    for number, version in versions.items():
        seen = client.get_model_version(MODEL, number)
        version["stage"] = seen.current_stage
        version["description"] = seen.description
        version["tags"] = seen.tags
        version["source"] = seen.source

    rows = x[:: len(x) // ROWS][:ROWS]  # spread over the table: both classes
    predicted = mlflow.pyfunc.load_model(f"models:/{MODEL}/4").predict(rows.astype(np.float32))
    report = {
        "model": MODEL,
        "refused": REFUSED,
        "versions": {str(n): v for n, v in versions.items()},
        "rows": rows.tolist(),
        "pyfunc": {
            "version": 4,
            "labels": np.asarray(predicted["label"]).tolist(),
            "probabilities": np.asarray(predicted["probabilities"]).tolist(),
        },
    }
    with open(out_path, "w") as out:
        json.dump(report, out)


if __name__ == "__main__":
    main()
