"""Talks to a Capstan model server's gRPC port with Python's `tritonclient.grpc`, unchanged,
and with the generic gRPC tools: the health-checking client and a reflection client.

Usage: python3 grpc_client.py HOST:PORT MODEL CSV ROWS

Prints one JSON object: liveness, readiness and metadata as tritonclient reports them, the
outputs of an inference with raw tensor contents (tritonclient's) and of one with typed
contents (the protocol's InferTensorContents, through tritonclient's generated stubs), the
error of a malformed request, the health service's answers and the services reflection
lists. The Rust test compares them with the runtime and the HTTP routes.
"""

import csv
import json
import sys

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException


def main():
    url, model, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(path, newline="") as f:
        rows = [[float(v) for v in row[:-1]] for _, row in zip(range(n), list(csv.reader(f))[1:])]
    data = np.array(rows, dtype=np.float64)

    client = grpcclient.InferenceServerClient(url=url)
    metadata = client.get_model_metadata(model, as_json=True)
    report = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server": client.get_server_metadata(as_json=True),
        "metadata": metadata,
    }
    input_name = metadata["inputs"][0]["name"]

    tensor = grpcclient.InferInput(input_name, list(data.shape), "FP64")
    tensor.set_data_from_numpy(data)
    requested = [
        grpcclient.InferRequestedOutput("probabilities"),
        grpcclient.InferRequestedOutput("label"),
    ]
    result = client.infer(model, [tensor], outputs=requested, request_id="raw-1")
    response = result.get_response()
    report["raw"] = {
        "id": response.id,
        "model_version": response.model_version,
        "probabilities": result.as_numpy("probabilities").tolist(),
        "labels": result.as_numpy("label").tolist(),
    }

    channel = grpc.insecure_channel(url)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    typed = service_pb2.ModelInferRequest(model_name=model, id="typed-1")
    typed_input = typed.inputs.add(name=input_name, datatype="FP64", shape=list(data.shape))
    typed_input.contents.fp64_contents.extend(data.flatten().tolist())
    answer = stub.ModelInfer(typed)
    outputs = {o.name: o for o in answer.outputs}
    report["typed"] = {
        "id": answer.id,
        "model_version": answer.model_version,
        "raw_output_contents": len(answer.raw_output_contents),
        "probabilities": list(outputs["probabilities"].contents.fp64_contents),
        "probabilities_shape": list(outputs["probabilities"].shape),
        "labels": list(outputs["label"].contents.int64_contents),
    }

    wrong = grpcclient.InferInput(input_name, [1, 3], "FP64")
    wrong.set_data_from_numpy(np.zeros((1, 3), dtype=np.float64))
    try:
        client.infer(model, [wrong])
        report["error"] = None
    except InferenceServerException as error:
        report["error"] = {"status": error.status(), "message": error.message()}

    health = health_pb2_grpc.HealthStub(channel)
    report["health"] = {
        name or "server": health_pb2.HealthCheckResponse.ServingStatus.Name(
            health.Check(health_pb2.HealthCheckRequest(service=name)).status
        )
        for name in ("", "inference.GRPCInferenceService")
    }
    database = ProtoReflectionDescriptorDatabase(channel)
    report["reflection"] = sorted(database.get_services())
    infer = database.FindFileContainingSymbol("inference.GRPCInferenceService")
    report["reflected_methods"] = sorted(m.name for m in infer.service[0].method) if infer.service else []
    print(json.dumps(report))


if __name__ == "__main__":
    main()
