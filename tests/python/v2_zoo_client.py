"""Sends a zoo model's reference rows to a Capstan model server with Python's
`tritonclient.http`, unchanged: one tensor per feature (FP32/FP64 for numbers with NaN for
a missing value, INT64 for whole numbers, BYTES for strings), once in the binary tensor
extension and once as JSON.

Usage: python3 v2_zoo_client.py HOST:PORT MODEL REFERENCE_JSON ZOO_FILE

Prints one JSON object: the model's metadata and, per encoding, the output tensors the
server answered (`value`, or `label` and `probabilities`) and which reference rows it sent. The Rust test compares them with
scikit-learn's answers.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient

NUMPY = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "string": np.object_}
DATATYPE = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "string": "BYTES"}


def main():
    url, model, reference_path, file = sys.argv[1:5]
    with open(reference_path) as f:
        reference = next(m for m in json.load(f)["models"] if m["file"] == file)
    client = httpclient.InferenceServerClient(url=url)
    metadata = client.get_model_metadata(model)
    outputs = [o["name"] for o in metadata["outputs"]]
    report = {"metadata": metadata, "outputs": {}}
    for binary in (True, False):
        # JSON cannot carry NaN (tritonclient would write it bare): the JSON pass sends the
        # rows without a missing value.
        indices = [i for i, row in enumerate(reference["inputs"]) if binary or None not in row]
        rows = [reference["inputs"][i] for i in indices]
        tensors = []
        for column, feature in enumerate(reference["features"]):
            values = [row[column] for row in rows]
            if feature["dtype"] != "string":
                values = [np.nan if v is None else v for v in values]
            data = np.array(values, dtype=NUMPY[feature["dtype"]]).reshape(-1, 1)
            tensor = httpclient.InferInput(feature["name"], list(data.shape), DATATYPE[feature["dtype"]])
            tensor.set_data_from_numpy(data, binary_data=binary)
            tensors.append(tensor)
        requested = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in outputs]
        result = client.infer(model, tensors, outputs=requested)
        answered = {"rows": indices}
        for name in outputs:
            array = result.as_numpy(name)
            if array.dtype == np.object_:
                array = np.array([v.decode() if isinstance(v, bytes) else v for v in array.ravel()])
            answered[name] = array.tolist()
        report["outputs"]["binary" if binary else "json"] = answered
    print(json.dumps(report))


if __name__ == "__main__":
    main()
