"""Talks to a Capstan model server with Python's `tritonclient.http`, unchanged.

Usage: python3 v2_client.py HOST:PORT MODEL CSV ROWS

Prints one JSON object: what the server reported (liveness, readiness, metadata) and the
outputs of inferences sent with binary and with JSON input tensors, plus the error
message of a malformed request. The Rust test compares them with the runtime.
"""

import csv
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    url, model, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(path, newline="") as f:
        rows = [[float(v) for v in row[:-1]] for _, row in zip(range(n), list(csv.reader(f))[1:])]
    data = np.array(rows, dtype=np.float64)

    client = httpclient.InferenceServerClient(url=url)
    report = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "metadata": client.get_model_metadata(model),
    }
    input_name = report["metadata"]["inputs"][0]["name"]

    outputs = {}
    for binary in (True, False):
        tensor = httpclient.InferInput(input_name, list(data.shape), "FP64")
        tensor.set_data_from_numpy(data, binary_data=binary)
        requested = [
            httpclient.InferRequestedOutput("probabilities", binary_data=True),
            httpclient.InferRequestedOutput("label", binary_data=True),
        ]
        result = client.infer(model, [tensor], outputs=requested)
        response = result.get_response()
        outputs["binary" if binary else "json"] = {
            "model_version": response["model_version"],
            "probabilities": result.as_numpy("probabilities").tolist(),
            "labels": result.as_numpy("label").tolist(),
        }
    report["outputs"] = outputs

    wrong = httpclient.InferInput(input_name, [1, 3], "FP64")
    wrong.set_data_from_numpy(np.zeros((1, 3), dtype=np.float64), binary_data=False)
    try:
        client.infer(model, [wrong])
        report["error"] = None
    except InferenceServerException as error:
        report["error"] = error.message()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
