"""The unmodified `mlflow` client using Capstan as its model registry and artifact store.

Usage: python3 mlflow_client_e2e.py CAPSTAN_URL CSV WORKDIR

Experiment tracking stays where MLflow users keep it (here a local SQLite tracking store);
the experiment's artifact location is Capstan's MLflow artifact proxy, and the registry URI
is Capstan. The script:

1. trains a scikit-learn model on the breast-cancer CSV, converts it with skl2onnx, and
   logs it with `mlflow.onnx.log_model(..., registered_model_name="bc")` (version 1, whose
   source is the logged model `models:/m-…`, uploaded through the proxy);
2. saves the same model to a directory, uploads the directory through the proxy and
   creates version 2 from `mlflow-artifacts:/…` (with run id, tags, description), and registers the logged model's
   artifact location, an `http://` proxy URL (version 3);
3. sets the alias `champion`, moves version 1 to Production, searches;
4. loads `models:/bc@production` and `models:/bc@champion` with `mlflow.pyfunc.load_model`
   and predicts; downloads `models:/bc/1` with `mlflow.artifacts.download_artifacts`.

Prints one JSON object the Rust test checks against Capstan's own API.
"""

import csv
import hashlib
import json
import os
import sys

import numpy as np


def sha256(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def probabilities(output):
    """The class probabilities of a pyfunc or onnxruntime answer, as lists of floats."""
    if isinstance(output, dict):
        for key, value in output.items():
            if "prob" in key:
                return np.asarray(value, dtype=np.float64).tolist()
    if hasattr(output, "columns"):
        for column in output.columns:
            if "prob" in column:
                return [list(map(float, row)) for row in output[column]]
    raise SystemExit(f"no probabilities in {type(output)}: {output!r}")


def main():
    base, csv_path, work = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(csv_path, newline="") as f:
        table = list(csv.reader(f))[1:]
    features = np.array([[float(v) for v in row[:-1]] for row in table], dtype=np.float32)
    labels = np.array([int(float(row[-1])) for row in table])

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skl2onnx import to_onnx

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(features, labels)
    onnx_model = to_onnx(
        pipeline, features[:1], options={id(pipeline.steps[-1][1]): {"zipmap": False}}
    )

    import mlflow
    import mlflow.onnx
    from mlflow import MlflowClient
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    mlflow.set_tracking_uri(f"sqlite:///{work}/tracking.db")
    mlflow.set_registry_uri(base)
    proxy = f"{base}/api/2.0/mlflow-artifacts/artifacts"
    experiment = mlflow.create_experiment("capstan-e2e", artifact_location=f"{proxy}/experiments/e2e")
    client = MlflowClient(registry_uri=base)
    rows = features[:5]
    report = {"rows": rows.astype(np.float64).tolist()}

    # 1. Logged with mlflow.onnx and registered in one call.
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metric("accuracy", float(pipeline.score(features, labels)))
        info = mlflow.onnx.log_model(onnx_model, name="model", registered_model_name="bc")
    logged = client.get_model_version("bc", "1")
    report["logged"] = {
        "version": logged.version,
        "source": logged.source,
        "run_id": logged.run_id,
        "status": logged.status,
        "tracking_run_id": run.info.run_id,
        "model_id": info.model_id,
    }

    # 2. A directory uploaded through the proxy, registered from mlflow-artifacts:/…
    directory = os.path.join(work, "saved")
    mlflow.onnx.save_model(onnx_model, directory)
    get_artifact_repository(f"{proxy}/staging/bc-dir").log_artifacts(directory)
    from_dir = client.create_model_version(
        "bc",
        "mlflow-artifacts:/staging/bc-dir",
        run_id=run.info.run_id,
        tags={"team": "risk"},
        description="saved, uploaded, registered",
    )
    # … and the logged model's artifact location, an http:// URL of the proxy.
    location = mlflow.get_logged_model(info.model_id).artifact_location
    from_url = mlflow.register_model(location, "bc")
    report["registered"] = {
        "from_dir": {"version": from_dir.version, "source": from_dir.source},
        "from_url": {"version": from_url.version, "source": from_url.source},
        "artifact_location": location,
    }
    try:
        # A runs:/ source lives in the tracking store, which a registry cannot read.
        client.create_model_version("bc", "runs:/0123/model")
        report["runs_uri"] = "accepted"
    except mlflow.exceptions.MlflowException as error:
        report["runs_uri"] = error.error_code

    # 3. Alias, stage, search.
    client.set_registered_model_alias("bc", "champion", "1")
    client.transition_model_version_stage("bc", "1", "Production")
    report["search"] = sorted(
        (v.version, v.current_stage) for v in client.search_model_versions("name='bc'")
    )

    # 4. Loaded and downloaded through the registry.
    report["pyfunc"] = {}
    for uri in ("models:/bc@production", "models:/bc@champion", "models:/bc/Production"):
        model = mlflow.pyfunc.load_model(uri)
        report["pyfunc"][uri] = probabilities(model.predict(rows))
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_model.SerializeToString())
    outputs = session.run(None, {session.get_inputs()[0].name: rows})
    names = [o.name for o in session.get_outputs()]
    report["onnxruntime"] = probabilities(dict(zip(names, outputs)))

    downloaded = mlflow.artifacts.download_artifacts("models:/bc/1", dst_path=os.path.join(work, "dl"))
    files = {}
    for folder, _, names in os.walk(downloaded):
        for name in names:
            path = os.path.join(folder, name)
            files[os.path.relpath(path, downloaded)] = sha256(path)
    report["downloaded"] = files
    print(json.dumps(report))


if __name__ == "__main__":
    main()
