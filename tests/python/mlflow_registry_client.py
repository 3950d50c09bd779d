"""Drives Capstan's MLflow model-registry API with the unmodified `mlflow` client.

Usage: mlflow_registry_client.py BASE_URL

The model `bc` must exist with ready versions 1 and 2 (created through Capstan's own
API); MLFLOW_TRACKING_TOKEN, when set, is sent as a bearer token by the client itself.
Prints a JSON report of what the client saw; the Rust test
(tests/tests/registry/mlflow/client.rs) checks it and Capstan's own view.
"""

import json
import sys
import warnings

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

warnings.simplefilter("ignore")

base = sys.argv[1]
client = MlflowClient(tracking_uri=base, registry_uri=base)
report = {}


def error_code(call):
    try:
        call()
    except MlflowException as e:
        return e.error_code
    return None


# Registered models: create, search, get, update, tags, rename, delete.
created = client.create_registered_model(
    "churn", tags={"team": "risk"}, description="churn model"
)
report["created"] = {"name": created.name, "tags": created.tags, "description": created.description}
report["search_like"] = [m.name for m in client.search_registered_models(filter_string="name LIKE 'ch%'")]
report["search_tag"] = [m.name for m in client.search_registered_models(filter_string="tags.team = 'risk'")]
report["search_all"] = [m.name for m in client.search_registered_models(order_by=["name DESC"])]
page = client.search_registered_models(max_results=1)
report["first_page"] = [m.name for m in page]
report["second_page"] = [
    m.name for m in client.search_registered_models(max_results=1, page_token=page.token)
]
client.update_registered_model("churn", description="new words")
client.set_registered_model_tag("churn", "owner", "ana")
client.delete_registered_model_tag("churn", "team")
got = client.get_registered_model("churn")
report["updated"] = {"description": got.description, "tags": got.tags}
client.rename_registered_model("churn", "churn-v2")  # returns None in mlflow 3
report["renamed"] = client.get_registered_model("churn-v2").name
client.delete_registered_model("churn-v2")
report["deleted_get"] = error_code(lambda: client.get_registered_model("churn-v2"))
report["bad_name"] = error_code(lambda: client.create_registered_model("Churn Model"))
report["exists"] = error_code(lambda: client.create_registered_model("bc"))

# Versions of `bc` (created through Capstan): aliases, stages, edits, tags, searches.
client.set_registered_model_alias("bc", "champion", "1")
report["by_alias"] = client.get_model_version_by_alias("bc", "champion").version
client.transition_model_version_stage("bc", "2", "Production")
client.transition_model_version_stage("bc", "1", "Production", archive_existing_versions=True)
report["stages"] = {
    v: client.get_model_version("bc", v).current_stage for v in ["1", "2"]
}
report["latest_production"] = [
    v.version for v in client.get_latest_versions("bc", stages=["Production"])
]
client.update_model_version("bc", "1", description="the good one")
client.set_model_version_tag("bc", "1", "validated", "yes")
client.set_model_version_tag("bc", "1", "reviewed", "no")
client.delete_model_version_tag("bc", "1", "reviewed")
v1 = client.get_model_version("bc", "1")
report["v1"] = {
    "description": v1.description,
    "tags": v1.tags,
    "aliases": list(v1.aliases),
    "status": v1.status,
    "stage": v1.current_stage,
}
report["searched_versions"] = [
    (v.name, v.version) for v in client.search_model_versions("name = 'bc'")
]
report["download_uri"] = client.get_model_version_download_uri("bc", "1")
client.delete_registered_model_alias("bc", "champion")
report["alias_gone"] = error_code(lambda: client.get_model_version_by_alias("bc", "champion"))
report["missing_version"] = error_code(lambda: client.get_model_version("bc", "9"))

print(json.dumps(report))
