#!/usr/bin/env python3
"""Regenerate the model zoo: the scikit-learn estimators people train, exported with
skl2onnx, with scikit-learn's own answers for held-out rows.

Run from the repository root (once; the output is committed with this script):

    pip install scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 onnxruntime numpy pandas
    python client/testdata/zoo/make_zoo.py

It writes tests/data/diabetes.csv (scikit-learn's diabetes table, BSD licence) and
tests/data/properties.csv (a synthetic property-price table with numeric, integer, string
and missing values), fits every model with a fixed random_state, exports each to
client/testdata/zoo/<name>.onnx and writes reference.json: per model its task, features
(name, dtype, nullable), held-out input rows in feature order (null for a missing value)
and scikit-learn's predict (labels or values) and predict_proba. Capstan's tests
(client/tests/runtime_zoo.rs, tests/tests/registry/zoo.rs) serve every model and compare.

The tree-ensemble spec cases (every aggregate function, the LOGISTIC, SOFTMAX and
SOFTMAX_ZERO post-transforms, every branch mode, missing values, float and double
attributes) are not scikit-learn models: `spec_trees()` builds them with onnx.helper and
takes onnxruntime's answers as the reference. (PROBIT is checked in Rust against known
normal quantiles: onnxruntime approximates it coarsely.)
"""

import csv
import json
import pathlib

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import skl2onnx
import sklearn
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import (
    DictionaryType,
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.feature_extraction import DictVectorizer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    Binarizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
DATA = REPO / "tests" / "data"
RANDOM_STATE = 42
REFERENCE_ROWS = 25
# Pinned opsets so a newer skl2onnx does not silently change the exported graphs.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def stable(onx, name):
    """A fixed graph name and a sorted, deduplicated opset list keep files stable."""
    onx.doc_string = f"Capstan zoo model {name} (see make_zoo.py)"
    onx.graph.name = name
    opsets = sorted({(o.domain, o.version) for o in onx.opset_import})
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    onnx.checker.check_model(onx)
    (HERE / f"{name}.onnx").write_bytes(onx.SerializeToString())


def export(model, name, initial_types, options=None):
    onx = convert_sklearn(
        model, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
    )
    stable(onx, name)


def plain(value):
    """A JSON-ready scalar: numpy scalars unwrapped, NaN as null."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if np.isnan(value) else value
    if isinstance(value, np.integer):
        return int(value)
    return value


def entry(name, model, features, x_ref, float32, x_model=None):
    """The reference of one model: its answers for x_ref (x_model is what it is given,
    when that differs from the rows as Capstan receives them)."""
    x_model = x_ref if x_model is None else x_model
    rows = x_ref.values.tolist() if hasattr(x_ref, "values") else x_ref.tolist()
    reference = {
        "file": f"{name}.onnx",
        "features": features,
        "float32": float32,
        "inputs": [[plain(v) for v in row] for row in rows],
    }
    if hasattr(model, "predict_proba"):
        reference["task"] = "classification"
        reference["classes"] = [plain(c) for c in model.classes_]
        reference["labels"] = [plain(c) for c in model.predict(x_model)]
        reference["probabilities"] = model.predict_proba(x_model).tolist()
    else:
        reference["task"] = "regression"
        values = np.asarray(model.predict(x_model), dtype=np.float64)
        reference["values"] = values.tolist()
    return reference


def numeric_features(names, dtype="float32"):
    return [{"name": n, "dtype": dtype} for n in names]


def read_breast_cancer():
    with open(DATA / "breast_cancer.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    data = np.array(body, dtype=np.float64)
    return header[:-1], data[:, :-1], data[:, -1].astype(np.int64)


def write_diabetes():
    diabetes = load_diabetes(scaled=False)
    names = list(diabetes.feature_names)
    frame = pd.DataFrame(diabetes.data, columns=names)
    frame["target"] = diabetes.target
    frame.to_csv(DATA / "diabetes.csv", index=False)
    return names, diabetes.data.astype(np.float64), diabetes.target.astype(np.float64)


def write_properties():
    """A synthetic property-price table: the seed's running example, with the column
    types a ColumnTransformer pipeline meets (numbers, whole numbers, strings, gaps)."""
    rng = np.random.default_rng(RANDOM_STATE)
    n = 600
    cities = np.array(["Lyon", "Oslo", "Porto", "Zürich", "São Paulo"])
    kinds = np.array(["flat", "house", "studio"])
    city = rng.choice(cities, n)
    kind = rng.choice(kinds, n)
    area = rng.uniform(18, 220, n).round(1)
    rooms = np.clip((area / 25 + rng.normal(0, 1, n)).round(), 1, 9).astype(np.int64)
    age = rng.uniform(0, 120, n).round(0)
    city_factor = {"Lyon": 4.2, "Oslo": 6.1, "Porto": 2.9, "Zürich": 9.8, "São Paulo": 2.1}
    kind_factor = {"flat": 1.0, "house": 1.15, "studio": 0.9}
    price = np.array(
        [
            area[i] * city_factor[city[i]] * kind_factor[kind[i]] * (1.2 - age[i] / 400)
            + 9 * rooms[i]
            for i in range(n)
        ]
    ) + rng.normal(0, 25, n)
    frame = pd.DataFrame(
        {
            "area": area,
            "rooms": rooms,
            "age": age,
            "city": city,
            "kind": kind,
            "price": price.round(2),
        }
    )
    frame.loc[rng.random(n) < 0.08, "age"] = np.nan
    frame.loc[rng.random(n) < 0.05, "area"] = np.nan
    frame.to_csv(DATA / "properties.csv", index=False)
    return frame


def classifiers():
    features, x, y = read_breast_cancer()
    x_train, x_test, y_train, _ = train_test_split(
        x, y, test_size=0.25, random_state=RANDOM_STATE, stratify=y
    )
    x_ref = x_test[:REFERENCE_ROWS]
    n = x.shape[1]
    floats = [("float_input", FloatTensorType([None, n]))]
    doubles = [("double_input", DoubleTensorType([None, n]))]
    feats = numeric_features(features)
    models = [
        ("logistic", LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE)),
        ("decision_tree_classifier", DecisionTreeClassifier(max_depth=6, random_state=RANDOM_STATE)),
        ("random_forest_classifier", RandomForestClassifier(n_estimators=40, max_depth=8, random_state=RANDOM_STATE)),
        ("extra_trees_classifier", ExtraTreesClassifier(n_estimators=40, max_depth=8, random_state=RANDOM_STATE)),
        ("gradient_boosting_classifier", GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=RANDOM_STATE)),
        ("minmax_binarizer_logistic", Pipeline([("minmax", MinMaxScaler()), ("binarize", Binarizer(threshold=0.4)), ("lr", LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE))])),
        ("mlp_classifier", Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=2_000, random_state=RANDOM_STATE))])),
    ]
    # Columns picked from one input by index (skl2onnx: ArrayFeatureExtractor).
    by_index = ColumnTransformer(
        [
            ("scaled", StandardScaler(), list(range(0, 10))),
            ("binary", Binarizer(threshold=0.1), list(range(20, 25))),
        ],
        remainder="drop",
    )
    models.append(
        (
            "column_indices_logistic",
            Pipeline([("pre", by_index), ("lr", LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE))]),
        )
    )
    out = []
    for name, model in models:
        model.fit(x_train, y_train)
        export(model, name, floats)
        out.append(entry(name, model, feats, x_ref, float32=True))
    # A forest in double precision: `_as_tensor` attributes, compared like float64.
    forest = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=RANDOM_STATE)
    forest.fit(x_train, y_train)
    export(forest, "random_forest_classifier_double", doubles)
    out.append(entry("random_forest_classifier_double", forest, numeric_features(features, "float64"), x_ref, float32=False))

    # Three classes with string labels: multi-class trees, boosting and an MLP.
    iris = load_iris()
    labels = np.array(iris.target_names)[iris.target]
    xi_train, xi_test, yi_train, _ = train_test_split(
        iris.data, labels, test_size=0.3, random_state=RANDOM_STATE, stratify=labels
    )
    iris_features = numeric_features(
        [f.replace(" (cm)", "").replace(" ", "_") for f in iris.feature_names]
    )
    iris_types = [("float_input", FloatTensorType([None, 4]))]
    # Several inputs into a scaler (skl2onnx: FeatureVectorizer), one of them two wide.
    scaled = Pipeline(
        [("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE))]
    ).fit(xi_train, yi_train)
    export(
        scaled,
        "iris_feature_vectorizer",
        [
            ("sepal_length", FloatTensorType([None, 1])),
            ("sepal_width", FloatTensorType([None, 1])),
            ("petal", FloatTensorType([None, 2])),
        ],
    )
    out.append(
        entry(
            "iris_feature_vectorizer",
            scaled,
            numeric_features(["sepal_length", "sepal_width", "petal_0", "petal_1"]),
            xi_test[:REFERENCE_ROWS],
            float32=True,
        )
    )
    for name, model in [
        ("iris_random_forest", RandomForestClassifier(n_estimators=25, max_depth=5, random_state=RANDOM_STATE)),
        ("iris_gradient_boosting", GradientBoostingClassifier(n_estimators=30, random_state=RANDOM_STATE)),
        ("iris_mlp", MLPClassifier(hidden_layer_sizes=(16,), max_iter=3_000, random_state=RANDOM_STATE)),
    ]:
        model.fit(xi_train, yi_train)
        export(model, name, iris_types)
        out.append(entry(name, model, iris_features, xi_test[:REFERENCE_ROWS], float32=True))
    out.append(dict_vectorizer_model())
    return out


def dict_vectorizer_model():
    """scikit-learn's DictVectorizer: one {feature: value} map per row, absent keys 0.
    Capstan serves its vocabulary as features; the reference rows give 0 where a row's
    dict lacks a key, as the vectorizer does."""
    iris = load_iris()
    names = [f.replace(" (cm)", "").replace(" ", "_") for f in iris.feature_names]
    rng = np.random.default_rng(RANDOM_STATE)
    dicts = [
        {name: float(v) for name, v in zip(names, row) if rng.random() > 0.15}
        for row in iris.data
    ]
    d_train, d_test, y_train, _ = train_test_split(
        dicts, iris.target, test_size=0.3, random_state=RANDOM_STATE, stratify=iris.target
    )
    model = Pipeline(
        [("vectorize", DictVectorizer(sparse=False)), ("lr", LogisticRegression(max_iter=10_000, random_state=RANDOM_STATE))]
    ).fit(d_train, y_train)
    export(model, "dict_vectorizer_logistic", [("input", DictionaryType(StringTensorType([1]), FloatTensorType([1])))])
    vocabulary = list(model.named_steps["vectorize"].feature_names_)
    reference = entry("dict_vectorizer_logistic", model, numeric_features(vocabulary), np.zeros((0, 0)), float32=True, x_model=d_test[:REFERENCE_ROWS])
    reference["inputs"] = [[d.get(name, 0.0) for name in vocabulary] for d in d_test[:REFERENCE_ROWS]]
    return reference


def regressors():
    features, x, y = write_diabetes()
    x_train, x_test, y_train, _ = train_test_split(
        x, y, test_size=0.25, random_state=RANDOM_STATE
    )
    x_ref = x_test[:REFERENCE_ROWS]
    n = x.shape[1]
    floats = [("float_input", FloatTensorType([None, n]))]
    feats = numeric_features(features)
    models = [
        ("linear_regression", LinearRegression()),
        ("ridge", Ridge(alpha=1.0)),
        ("lasso", Lasso(alpha=0.1)),
        ("decision_tree_regressor", DecisionTreeRegressor(max_depth=6, random_state=RANDOM_STATE)),
        ("random_forest_regressor", RandomForestRegressor(n_estimators=40, max_depth=8, random_state=RANDOM_STATE)),
        ("extra_trees_regressor", ExtraTreesRegressor(n_estimators=40, max_depth=8, random_state=RANDOM_STATE)),
        ("gradient_boosting_regressor", GradientBoostingRegressor(n_estimators=80, max_depth=3, random_state=RANDOM_STATE)),
        ("mlp_regressor", Pipeline([("scale", StandardScaler()), ("mlp", MLPRegressor(hidden_layer_sizes=(32,), max_iter=3_000, learning_rate_init=0.01, random_state=RANDOM_STATE))])),
    ]
    out = []
    for name, model in models:
        model.fit(x_train, y_train)
        export(model, name, floats)
        out.append(entry(name, model, feats, x_ref, float32=True))
    # Two targets at once, in double precision: [rows, 2] predictions.
    y2 = np.stack([y, x[:, 2] * 10.0], axis=1)
    x2_train, x2_test, y2_train, _ = train_test_split(
        x, y2, test_size=0.25, random_state=RANDOM_STATE
    )
    multi = LinearRegression().fit(x2_train, y2_train)
    export(multi, "linear_regression_two_targets", [("double_input", DoubleTensorType([None, n]))])
    out.append(entry("linear_regression_two_targets", multi, numeric_features(features, "float64"), x2_test[:REFERENCE_ROWS], float32=False))
    return out


def pipelines():
    frame = write_properties()
    numeric = ["area", "age"]
    categorical = ["city", "kind"]
    columns = numeric + ["rooms"] + categorical
    x = frame[columns]
    x_train, x_test, y_train, _ = train_test_split(
        x, frame["price"], test_size=0.25, random_state=RANDOM_STATE
    )
    x_ref = x_test[:REFERENCE_ROWS].copy()
    # One row with a city the pipeline never saw: OneHotEncoder ignores it.
    x_ref.iloc[0, columns.index("city")] = "Reykjavík"
    pre = ColumnTransformer(
        [
            ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            ("rooms", OneHotEncoder(handle_unknown="ignore"), ["rooms"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    types = [
        ("area", FloatTensorType([None, 1])),
        ("age", FloatTensorType([None, 1])),
        ("rooms", Int64TensorType([None, 1])),
        ("city", StringTensorType([None, 1])),
        ("kind", StringTensorType([None, 1])),
    ]
    features = [
        {"name": "area", "dtype": "float32", "nullable": True},
        {"name": "age", "dtype": "float32", "nullable": True},
        {"name": "rooms", "dtype": "int64"},
        {"name": "city", "dtype": "string"},
        {"name": "kind", "dtype": "string"},
    ]
    out = []
    price = Pipeline([("pre", pre), ("model", Ridge(alpha=0.5))]).fit(x_train, y_train)
    export(price, "pipeline_ridge", types)
    out.append(entry("pipeline_ridge", price, features, x_ref, float32=True))

    # Trees need no scaling: the numeric columns are only imputed, so each value reaches
    # the trees as the float32 scikit-learn's trees compare too. (After a float32
    # StandardScaler, values round differently from scikit-learn's float64 and rows near a
    # threshold change leaf: onnxruntime itself then disagrees with scikit-learn by 3e-3.)
    tree_pre = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median"), numeric),
            ("rooms", OneHotEncoder(handle_unknown="ignore"), ["rooms"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    expensive = (y_train > y_train.median()).map({True: "expensive", False: "affordable"})
    classify = Pipeline(
        [("pre", tree_pre), ("model", GradientBoostingClassifier(n_estimators=40, random_state=RANDOM_STATE))]
    ).fit(x_train, expensive)
    export(classify, "pipeline_gradient_boosting", types)
    out.append(entry("pipeline_gradient_boosting", classify, features, x_ref, float32=True))

    # Categories as ordinals (skl2onnx: LabelEncoder) before a tree.
    ordinal_pre = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median"), numeric),
            ("rooms", "passthrough", ["rooms"]),
            ("categories", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
        ]
    )
    ordinal = Pipeline(
        [("pre", ordinal_pre), ("model", DecisionTreeRegressor(max_depth=6, random_state=RANDOM_STATE))]
    ).fit(x_train, y_train)
    export(ordinal, "pipeline_ordinal_tree", types)
    out.append(entry("pipeline_ordinal_tree", ordinal, features, x_ref, float32=True))
    return out


def spec_trees():
    """Tree ensembles covering the ONNX spec, answered by onnxruntime (and scipy)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    x[3, 0] = np.nan  # a missing value: routed by nodes_missing_value_tracks_true
    x[5, 1] = 0.25  # exactly on a threshold: LEQ/LT/GTE/GT and EQ/NEQ differ here
    out = []

    def two_trees(mode_a, mode_b, targets):
        # Tree 0: x0 <mode_a> 0.0 ? (x1 <mode_b> 0.25 ? leaf1 : leaf2) : leaf3
        # Tree 1: x2 <mode_a> -0.5 ? leaf1 : leaf2
        nodes = dict(
            nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1],
            nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
            nodes_featureids=[0, 1, 0, 0, 0, 2, 0, 0],
            nodes_modes=[mode_a, mode_b, "LEAF", "LEAF", "LEAF", mode_a, "LEAF", "LEAF"],
            nodes_values=[0.0, 0.25, 0, 0, 0, -0.5, 0, 0],
            nodes_truenodeids=[1, 2, 0, 0, 0, 1, 0, 0],
            nodes_falsenodeids=[4, 3, 0, 0, 0, 2, 0, 0],
            nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0],
        )
        leaves = [(0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]
        votes = []
        for k, (tree, node) in enumerate(leaves):
            for t in range(targets):
                votes.append((tree, node, t, 0.5 + k - 1.5 * t + 0.25 * k * t))
        return nodes, votes

    def regressor(name, aggregate, post, mode_a="BRANCH_LEQ", mode_b="BRANCH_LEQ", targets=2, base=True, double=False):
        nodes, votes = two_trees(mode_a, mode_b, targets)
        attrs = dict(nodes)
        attrs.update(
            n_targets=targets,
            aggregate_function=aggregate,
            post_transform=post,
            target_treeids=[v[0] for v in votes],
            target_nodeids=[v[1] for v in votes],
            target_ids=[v[2] for v in votes],
        )
        weights = [v[3] for v in votes]
        base_values = [0.1 * (t + 1) for t in range(targets)] if base else None
        if double:
            attrs["nodes_values_as_tensor"] = helper.make_tensor("v", TensorProto.DOUBLE, [len(attrs["nodes_values"])], attrs.pop("nodes_values"))
            attrs["target_weights_as_tensor"] = helper.make_tensor("w", TensorProto.DOUBLE, [len(weights)], weights)
            if base_values:
                attrs["base_values_as_tensor"] = helper.make_tensor("b", TensorProto.DOUBLE, [targets], base_values)
        else:
            attrs["target_weights"] = weights
            if base_values:
                attrs["base_values"] = base_values
        elem = TensorProto.DOUBLE if double else TensorProto.FLOAT
        node = helper.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", **attrs)
        graph = helper.make_graph(
            [node], name,
            [helper.make_tensor_value_info("x", elem, [None, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, targets])],
        )
        onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
        stable(onx, name)
        xs = x.astype(np.float64) if double else x
        session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        values = session.run(None, {"x": xs})[0].astype(np.float64)
        if targets == 1:
            values = values.reshape(-1)  # one number per row, as scikit-learn answers
        return {
            "file": f"{name}.onnx",
            "features": numeric_features(["x0", "x1", "x2"], "float64" if double else "float32"),
            "float32": True,
            "inputs": [[plain(v) for v in row] for row in xs.tolist()],
            "task": "regression",
            "values": values.tolist(),
        }

    for aggregate in ["SUM", "AVERAGE", "MIN", "MAX"]:
        out.append(regressor(f"spec_regressor_{aggregate.lower()}", aggregate, "NONE"))
    for post in ["LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]:
        out.append(regressor(f"spec_regressor_{post.lower()}", "SUM", post))
    for mode in ["BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]:
        out.append(regressor(f"spec_regressor_{mode.lower()}", "SUM", "NONE", mode_a=mode, mode_b=mode))
    out.append(regressor("spec_regressor_double", "AVERAGE", "NONE", double=True))
    out.append(regressor("spec_regressor_one_target", "SUM", "NONE", targets=1, base=False))
    return out


def unsupported():
    """A model whose graph uses an operator Capstan cannot run: refused at upload."""
    features, x, y = read_breast_cancer()
    model = SVR().fit(x[:200, :5], y[:200])
    export(model, "unsupported_svr", [("float_input", FloatTensorType([None, 5]))])
    return [{"file": "unsupported_svr.onnx", "operator": "ai.onnx.ml.SVMRegressor"}]


def main():
    models = classifiers() + regressors() + pipelines() + spec_trees()
    reference = {
        "generated_by": "client/testdata/zoo/make_zoo.py",
        "versions": {
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
        },
        "models": models,
        "unsupported": unsupported(),
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    for model in models:
        size = (HERE / model["file"]).stat().st_size
        print(f"{model['file']}: {size} bytes, {model['task']}")


if __name__ == "__main__":
    main()
