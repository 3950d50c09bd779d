#!/usr/bin/env python3
"""Regenerate the ONNX test models and scikit-learn's reference outputs.

Run from the repository root:

    pip install scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 numpy
    python client/testdata/onnx/make_models.py

It trains scikit-learn models with a fixed random_state, exports them with skl2onnx
into this directory and writes reference.json: held-out input rows (float64) with
scikit-learn's predict_proba and predict for each model. client/tests/runtime_onnx.rs
checks that Capstan's ONNX runtime agrees with them.

Models (all LogisticRegression, the shapes skl2onnx produces most often):
  lr_zipmap.onnx       breast cancer, default export: probabilities through ai.onnx.ml ZipMap
  lr_nozipmap.onnx     breast cancer, options={"zipmap": False}: a plain probability tensor
  scaler_lr.onnx       breast cancer, Pipeline(StandardScaler, LogisticRegression): ai.onnx.ml Scaler
  iris_strings.onnx    iris (3 classes, string labels), default export with ZipMap
"""

import csv
import json
import pathlib

import numpy as np
import onnx
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
BREAST_CANCER = REPO / "tests" / "data" / "breast_cancer.csv"
RANDOM_STATE = 42
REFERENCE_ROWS = 20
# tract is tested against ONNX opsets 9 to 18; pin them so a newer skl2onnx does not
# silently change the exported graphs.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def load_breast_cancer_csv():
    with open(BREAST_CANCER, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    data = np.array(body, dtype=np.float64)
    return header[:-1], data[:, :-1], data[:, -1].astype(np.int64)


def export(model, n_features, file_name, options=None):
    onx = convert_sklearn(
        model,
        initial_types=[("float_input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset=TARGET_OPSET,
    )
    onx.doc_string = f"Capstan test model {file_name} (see make_models.py)"
    # skl2onnx names the graph with a random UUID and lists opsets in hash order (and
    # sometimes twice); a fixed name and a sorted, deduplicated list keep files stable.
    onx.graph.name = file_name.removesuffix(".onnx")
    opsets = sorted({(o.domain, o.version) for o in onx.opset_import})
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    onnx.checker.check_model(onx)
    (HERE / file_name).write_bytes(onx.SerializeToString())


def classifier_of(model):
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def reference_entry(file_name, model, features, x_ref):
    classes = [c.item() for c in classifier_of(model).classes_]
    return {
        "file": file_name,
        "features": features,
        "classes": classes,
        "inputs": x_ref.tolist(),
        "probabilities": model.predict_proba(x_ref).tolist(),
        "labels": [c.item() for c in model.predict(x_ref)],
    }


def breast_cancer_models():
    features, x, y = load_breast_cancer_csv()
    x_train, x_test, y_train, _ = train_test_split(
        x, y, test_size=0.25, random_state=RANDOM_STATE, stratify=y
    )
    x_ref = x_test[:REFERENCE_ROWS]
    n = x.shape[1]

    lr = LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE).fit(x_train, y_train)
    export(lr, n, "lr_zipmap.onnx")
    export(lr, n, "lr_nozipmap.onnx", options={id(lr): {"zipmap": False}})

    pipeline = Pipeline(
        [("scaler", StandardScaler()), ("lr", LogisticRegression(random_state=RANDOM_STATE))]
    ).fit(x_train, y_train)
    export(pipeline, n, "scaler_lr.onnx")

    return [
        reference_entry("lr_zipmap.onnx", lr, features, x_ref),
        reference_entry("lr_nozipmap.onnx", lr, features, x_ref),
        reference_entry("scaler_lr.onnx", pipeline, features, x_ref),
    ]


def iris_string_label_model():
    iris = load_iris()
    labels = np.array(iris.target_names)[iris.target]
    x_train, x_test, y_train, _ = train_test_split(
        iris.data, labels, test_size=0.25, random_state=RANDOM_STATE, stratify=labels
    )
    model = LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE).fit(x_train, y_train)
    export(model, iris.data.shape[1], "iris_strings.onnx")
    features = [name.replace(" (cm)", "").replace(" ", "_") for name in iris.feature_names]
    return reference_entry("iris_strings.onnx", model, features, x_test[:REFERENCE_ROWS])


def main():
    reference = {
        "generated_by": "client/testdata/onnx/make_models.py",
        "versions": {
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
        },
        "models": breast_cancer_models() + [iris_string_label_model()],
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    for entry in reference["models"]:
        size = (HERE / entry["file"]).stat().st_size
        print(f"{entry['file']}: {size} bytes, classes {entry['classes']}")


if __name__ == "__main__":
    main()
