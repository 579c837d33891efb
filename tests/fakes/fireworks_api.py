"""A local fake of the Fireworks AI endpoints a Fireworks training backend needs.

Control plane (`/v1/accounts/{account_id}/...`, Fireworks' "Gateway REST API"): datasets
(create, get, list, delete, `:upload` multipart, or `:getUploadEndpoint` + PUT to the signed
URL + `:validateUpload`), supervised fine-tuning jobs and DPO jobs (create, get, list, delete,
`:cancel`), models (get) and deployed models (load a LoRA adapter onto serverless or onto a
dedicated deployment, get, list, unload). Inference plane: OpenAI-compatible
`POST /inference/v1/chat/completions`, streaming too, which answers 404 unless the model is a
served base model or a LoRA whose deployed copy is `DEPLOYED`.

Field names, states and list keys follow docs.fireworks.ai and the generated Fireworks SDK;
`tests/fakes/FIREWORKS_NOTES.md` lists the sources and the points the docs leave open, and
what this fake chose for each (marked "fake's choice" below). Everything is in memory and moves
only when a test says so (`set_job`, `set_dataset`, `set_deployed_model`) or after a set
number of polls (`dataset_ready_polls`, `deploy_polls`).

Run standalone with `python -m tests.fakes.fireworks_api --port N`.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes._server import FakeServer, run_standalone, stream_chat_reply

BASE_MODELS = (
    "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "accounts/fireworks/models/qwen3-8b",
    "accounts/fireworks/models/glm-5p3-flash",
)
# Specialized Model Inference (preview) loads adapters onto serverless only for these bases,
# at most 3 adapters per base and account, rank 64 or lower.
SERVERLESS_LORA_BASES = ("accounts/fireworks/models/glm-5p3-flash",)
SERVERLESS_LORA_LIMIT = 3
SERVERLESS_LORA_MAX_RANK = 64
DEFAULT_LORA_RANK = 8  # fake's choice: the docs give no default rank

JOB_COLLECTIONS = ("supervisedFineTuningJobs", "dpoJobs")
TERMINAL_JOB_STATES = frozenset(
    {
        "JOB_STATE_COMPLETED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_EARLY_STOPPED",
    }
)
RELEASED_JOB_STATES = frozenset({"JOB_STATE_FAILED", "JOB_STATE_CANCELLED"})
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# google.rpc.Code numbers, which the gateway puts in its error bodies.
GRPC_CODES = {
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "UNAUTHENTICATED": 16,
}
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
}
# AIP-122 style resource IDs (fake's choice: the docs do not spell the rule out).
RESOURCE_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ID = r"{%s:[^/:]+}"
ACCOUNT = "/v1/accounts/" + ID % "account_id"
SIGNED_PREFIX = "/_signed/"


class FakeFireworks(FakeServer):
    def __init__(self, api_key: str = "fw-test", account_id: str = "acme") -> None:
        super().__init__()
        self.api_key = api_key
        self.account_id = account_id

        # Datasets, keyed by dataset ID (the last segment of `name`).
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_contents: dict[str, bytes] = {}
        # After an upload, this many more GETs still answer UPLOADING before READY.
        self.dataset_ready_polls = 0
        self._dataset_polls: dict[str, int] = {}
        self._signed_uploads: dict[str, dict[str, int]] = {}  # dataset ID -> filename -> size

        # SFT and DPO jobs, keyed by resource name: accounts/{a}/supervisedFineTuningJobs/{id}.
        self.jobs: dict[str, dict[str, Any]] = {}
        # One entry per create call: {"collection", "job_id" (from the query), "body"}.
        self.job_requests: list[dict[str, Any]] = []
        self._drop_after_create = 0

        # Models by resource name: base models are tunable; tuned LoRAs appear on completion.
        self.tunable_models: set[str] = set(BASE_MODELS)
        self.models: dict[str, dict[str, Any]] = {}
        self.serverless_lora_bases: set[str] = set(SERVERLESS_LORA_BASES)
        # Dedicated deployments a LoRA can be loaded onto, by resource name. Not served over
        # REST here; a test adds {"baseModel": ..., "enableAddons": True, "state": "READY"}.
        self.deployments: dict[str, dict[str, Any]] = {}
        # Loaded adapter copies, by resource name accounts/{a}/deployedModels/{id}.
        self.deployed_models: dict[str, dict[str, Any]] = {}
        # A new copy is DEPLOYING on creation and for this many more GETs, then DEPLOYED.
        self.deploy_polls = 0
        self._deploy_polls: dict[str, int] = {}

        # Inference: models that answer chat (serverless bases plus DEPLOYED adapters).
        self.served_models: set[str] = set(BASE_MODELS)
        self.chat_requests: list[dict[str, Any]] = []

        self.app.middlewares.append(self._auth)
        self._add_routes()

    def _add_routes(self) -> None:
        route = self.app.router
        datasets = ACCOUNT + "/datasets"
        dataset = datasets + "/" + ID % "dataset_id"
        route.add_post(datasets, self._create_dataset)
        route.add_get(datasets, self._list_datasets)
        route.add_get(dataset, self._get_dataset)
        route.add_delete(dataset, self._delete_dataset)
        route.add_post(dataset + ":upload", self._upload_dataset)
        route.add_post(dataset + ":getUploadEndpoint", self._get_upload_endpoint)
        route.add_post(dataset + ":validateUpload", self._validate_upload)
        route.add_put(SIGNED_PREFIX + "datasets/{dataset_id}/{filename}", self._signed_put)
        for collection in JOB_COLLECTIONS:
            jobs = ACCOUNT + "/" + collection
            job = jobs + "/" + ID % "job_id"
            route.add_post(jobs, self._create_job)
            route.add_get(jobs, self._list_jobs)
            route.add_get(job, self._get_job)
            route.add_delete(job, self._delete_job)
            route.add_post(job + ":cancel", self._cancel_job)
        route.add_get(ACCOUNT + "/models/" + ID % "model_id", self._get_model)
        deployed = ACCOUNT + "/deployedModels"
        route.add_post(deployed, self._load_lora)
        route.add_get(deployed, self._list_deployed_models)
        route.add_get(deployed + "/" + ID % "deployed_model_id", self._get_deployed_model)
        route.add_delete(deployed + "/" + ID % "deployed_model_id", self._unload_lora)
        route.add_post("/inference/v1/chat/completions", self._chat)
        route.add_route("*", "/{tail:.*}", self._unknown_url)

    @property
    def api_url(self) -> str:
        """Control-plane root, as `https://api.fireworks.ai/v1`."""
        return f"{self.base_url}/v1"

    @property
    def inference_url(self) -> str:
        """OpenAI-compatible root (the SDK's `base_url`), as `.../inference/v1`."""
        return f"{self.base_url}/inference/v1"

    # ----- test-side API -------------------------------------------------

    def set_dataset(self, dataset_id: str, state: str | None = None, **fields: Any) -> None:
        """Set a dataset's `state` ("UPLOADING", "READY") and/or other fields, e.g. `status`."""
        record = self.datasets[dataset_id]
        if state is not None:
            record["state"] = state
            self._dataset_polls.pop(dataset_id, None)
        record.update(fields)
        record["updateTime"] = _now()

    def set_job(self, job_name_or_id: str, state: str, **fields: Any) -> dict[str, Any]:
        """Move an SFT or DPO job to `state` ("JOB_STATE_RUNNING" or just "RUNNING").

        Terminal states get `completedTime`; a failure gets a generic `status` unless one is
        given; completion creates the output model (READY, a LoRA addon), which can then be
        loaded with POST deployedModels. Extra keywords overwrite job fields
        (e.g. `jobProgress={"percent": 40, "epoch": 1}`). Returns a copy of the job.
        """
        job = self._job_or_fail(job_name_or_id)
        state = state if state.startswith("JOB_STATE_") else f"JOB_STATE_{state}"
        job["state"] = state
        job["updateTime"] = _now()
        if state in TERMINAL_JOB_STATES:
            job.setdefault("completedTime", job["updateTime"])
        if state == "JOB_STATE_RUNNING" and "jobProgress" in job:
            job["jobProgress"].setdefault("percent", 0)
        if state == "JOB_STATE_FAILED" and "status" not in fields:
            job["status"] = {"code": "INTERNAL", "message": "Fine-tuning job failed."}
        job.update(fields)
        if state == "JOB_STATE_COMPLETED":
            self._add_output_model(job)
        return copy.deepcopy(job)

    def set_deployed_model(self, name_or_id: str, state: str, **fields: Any) -> None:
        """Set a loaded adapter copy's state, e.g. "DEPLOYED" (it then answers chat)."""
        name = self._deployed_name(name_or_id)
        record = self.deployed_models[name]
        record["state"] = state
        record.update(fields)
        record["updateTime"] = _now()
        self._deploy_polls.pop(name, None)
        self._refresh_served(record["model"])

    def fail_next_create(self, times: int = 1) -> None:
        """The next `times` job creations store the job, then drop the connection unanswered,
        as when the answer to a creation is lost on the way back."""
        self._drop_after_create += times

    def latest_job(self) -> dict[str, Any]:
        """A copy of the most recently created job (SFT or DPO) that still exists."""
        if not self.jobs:
            raise AssertionError("no job exists on the fake")
        return copy.deepcopy(list(self.jobs.values())[-1])

    def job(self, job_name_or_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._job_or_fail(job_name_or_id))

    # ----- auth ------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler) -> web.StreamResponse:
        # Signed upload URLs carry their own authorization, as cloud storage URLs do.
        if request.path.startswith(SIGNED_PREFIX):
            return await handler(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            # Never echo the key back: it may be a real one by mistake.
            if request.path.startswith("/inference/"):
                return _inference_error(401, "UNAUTHENTICATED", "Invalid API key")
            return _error("UNAUTHENTICATED", "invalid API key")
        # Other accounts are off limits, except reading the public `fireworks` model catalog.
        account = request.match_info.get("account_id")
        public = account == "fireworks" and request.method == "GET"
        if account is not None and account != self.account_id and not public:
            return _error("PERMISSION_DENIED", f"no access to account {account}")
        return await handler(request)

    # ----- datasets ----------------------------------------------------------

    async def _create_dataset(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None:
            return _error("INVALID_ARGUMENT", "the body must be a JSON object")
        dataset_id = body.get("datasetId")
        if not isinstance(dataset_id, str) or not RESOURCE_ID.match(dataset_id):
            return _error("INVALID_ARGUMENT", f"invalid datasetId: {dataset_id!r}")
        if dataset_id in self.datasets:
            return _error("ALREADY_EXISTS", f"dataset {self._name('datasets', dataset_id)} exists")
        spec = body.get("dataset") if isinstance(body.get("dataset"), dict) else {}
        now = _now()
        record = {
            "name": self._name("datasets", dataset_id),
            "displayName": spec.get("displayName", ""),
            "createTime": now,
            "updateTime": now,
            # Fake's choice: the docs do not say which state a record without data has.
            "state": "UPLOADING",
            "status": {"code": "OK", "message": ""},
            "exampleCount": str(spec.get("exampleCount", "0")),
            "format": spec.get("format", "FORMAT_UNSPECIFIED"),
            "createdBy": "tester@example.com",
        }
        for key in ("userUploaded", "externalUrl", "sourceJobName", "evalProtocol"):
            if key in spec:
                record[key] = spec[key]
        self.datasets[dataset_id] = record
        return web.json_response(record)

    async def _list_datasets(self, request: web.Request) -> web.Response:
        items = [self._polled_dataset(d) for d in sorted(self.datasets)]
        return _page(request, "datasets", items)

    async def _get_dataset(self, request: web.Request) -> web.Response:
        dataset_id = request.match_info["dataset_id"]
        if dataset_id not in self.datasets:
            return self._missing("datasets", dataset_id)
        return web.json_response(self._polled_dataset(dataset_id))

    async def _delete_dataset(self, request: web.Request) -> web.Response:
        dataset_id = request.match_info["dataset_id"]
        if self.datasets.pop(dataset_id, None) is None:
            return self._missing("datasets", dataset_id)
        self.dataset_contents.pop(dataset_id, None)
        return web.json_response({})

    async def _upload_dataset(self, request: web.Request) -> web.Response:
        dataset_id = request.match_info["dataset_id"]
        record = self.datasets.get(dataset_id)
        if record is None:
            return self._missing("datasets", dataset_id)
        if not request.content_type.startswith("multipart/"):
            return _error("INVALID_ARGUMENT", "expected multipart/form-data with a file part")
        form = await request.post()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error("INVALID_ARGUMENT", "the form has no file part named 'file'")
        if dataset_id in self.dataset_contents:
            # Third parties report a 400 saying the dataset is already uploaded.
            return _error("FAILED_PRECONDITION", f"dataset {record['name']} is already uploaded")
        content = upload.file.read()
        self._store_content(dataset_id, content)
        # DatasetUploadResponse in the generated SDK; object/purpose values are fake's choice.
        return web.json_response(
            {
                "id": dataset_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": upload.filename,
                "purpose": "fine-tune",
            }
        )

    async def _get_upload_endpoint(self, request: web.Request) -> web.Response:
        dataset_id = request.match_info["dataset_id"]
        if dataset_id not in self.datasets:
            return self._missing("datasets", dataset_id)
        body = await _json_body(request)
        sizes = (body or {}).get("filenameToSize")
        if not isinstance(sizes, dict) or not sizes:
            return _error("INVALID_ARGUMENT", "filenameToSize is required")
        try:
            wanted = {str(name): int(size) for name, size in sizes.items()}
        except (TypeError, ValueError):
            return _error("INVALID_ARGUMENT", "filenameToSize values must be byte counts")
        self._signed_uploads[dataset_id] = wanted
        root = f"{self.base_url}{SIGNED_PREFIX}datasets/{dataset_id}"
        urls = {name: f"{root}/{name}?sig={uuid.uuid4().hex}" for name in wanted}
        return web.json_response({"filenameToSignedUrls": urls})

    async def _signed_put(self, request: web.Request) -> web.Response:
        dataset_id, filename = request.match_info["dataset_id"], request.match_info["filename"]
        expected = self._signed_uploads.get(dataset_id, {}).get(filename)
        if expected is None or "sig" not in request.query:
            return web.Response(status=403, text="SignatureDoesNotMatch")
        content = await request.read()
        if len(content) != expected:
            return web.Response(status=400, text="EntityTooLarge or too small for signed size")
        self.dataset_contents[dataset_id] = content
        return web.Response(status=200)

    async def _validate_upload(self, request: web.Request) -> web.Response:
        dataset_id = request.match_info["dataset_id"]
        record = self.datasets.get(dataset_id)
        if record is None:
            return self._missing("datasets", dataset_id)
        if dataset_id not in self.dataset_contents:
            return _error("FAILED_PRECONDITION", f"nothing was uploaded to {record['name']}")
        if record["state"] == "READY":
            return _error("FAILED_PRECONDITION", f"dataset {record['name']} is already uploaded")
        self._store_content(dataset_id, self.dataset_contents[dataset_id])
        return web.json_response({})

    def _store_content(self, dataset_id: str, content: bytes) -> None:
        self.dataset_contents[dataset_id] = content
        record = self.datasets[dataset_id]
        record["exampleCount"] = str(sum(1 for line in content.splitlines() if line.strip()))
        record["updateTime"] = _now()
        if self.dataset_ready_polls:
            self._dataset_polls[dataset_id] = self.dataset_ready_polls
        else:
            record["state"] = "READY"

    def _polled_dataset(self, dataset_id: str) -> dict[str, Any]:
        record = self.datasets[dataset_id]
        if dataset_id in self._dataset_polls:
            if self._dataset_polls[dataset_id] <= 0:
                record["state"] = "READY"
                del self._dataset_polls[dataset_id]
            else:
                self._dataset_polls[dataset_id] -= 1
        return record

    # ----- fine-tuning jobs --------------------------------------------------

    async def _create_job(self, request: web.Request) -> web.StreamResponse:
        collection = request.path.rstrip("/").rsplit("/", 1)[-1]
        id_param = "supervisedFineTuningJobId" if collection == JOB_COLLECTIONS[0] else "dpoJobId"
        body = await _json_body(request)
        job_id = request.query.get(id_param)
        self.job_requests.append({"collection": collection, "job_id": job_id, "body": body})
        if body is None:
            return _error("INVALID_ARGUMENT", "the body must be a JSON object")
        if job_id is not None and not RESOURCE_ID.match(job_id):
            return _error("INVALID_ARGUMENT", f"invalid {id_param}: {job_id!r}")
        job_id = job_id or uuid.uuid4().hex[:8]
        name = self._name(collection, job_id)
        if name in self.jobs:
            return _error("ALREADY_EXISTS", f"{name} already exists")
        job, failure = self._new_job(collection, name, job_id, body)
        if failure is not None:
            return failure
        self.jobs[name] = job
        if self._drop_after_create > 0:
            self._drop_after_create -= 1
            return await _drop(request)
        return web.json_response(job)

    def _new_job(
        self, collection: str, name: str, job_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], web.Response | None]:
        job: dict[str, Any] = copy.deepcopy(body)
        # SFT jobs carry the training settings at the top level, DPO jobs in trainingConfig.
        config = job if collection == JOB_COLLECTIONS[0] else job.setdefault("trainingConfig", {})
        if not isinstance(config, dict):
            return job, _error("INVALID_ARGUMENT", "trainingConfig must be an object")
        dataset, failure = self._ready_dataset(job.get("dataset"), "dataset", required=True)
        if failure is not None:
            return job, failure
        job["dataset"] = dataset
        if job.get("evaluationDataset"):
            evaluation, failure = self._ready_dataset(job["evaluationDataset"], "evaluationDataset")
            if failure is not None:
                return job, failure
            job["evaluationDataset"] = evaluation
        base, warm = config.get("baseModel"), config.get("warmStartFrom")
        if bool(base) == bool(warm):
            return job, _error("INVALID_ARGUMENT", "set exactly one of baseModel, warmStartFrom")
        if base:
            config["baseModel"] = base = _model_name(base)
            if base not in self.tunable_models:
                return job, _error("INVALID_ARGUMENT", f"base model {base} is not tunable")
        else:
            config["warmStartFrom"] = warm = _model_name(warm, self.account_id)
            if warm not in self.models:
                return job, _error("NOT_FOUND", f"model {warm} not found")
        output = _model_name(config.get("outputModel") or job_id, self.account_id)
        # Fake's choice: a failed or cancelled job does not hold on to its output model name.
        holders = [j for j in self.jobs.values() if j["state"] not in RELEASED_JOB_STATES]
        if output in self.models or any(_output_model(j) == output for j in holders):
            return job, _error("ALREADY_EXISTS", f"output model {output} already exists")
        config["outputModel"] = output
        now = _now()
        job.update(
            {
                "name": name,
                "createTime": now,
                "updateTime": now,
                # Fake's choice of first state; the enum also has PENDING and VALIDATING.
                "state": "JOB_STATE_CREATING",
                "status": {"code": "OK", "message": ""},
                "createdBy": "tester@example.com",
            }
        )
        job.setdefault("displayName", "")
        if collection == JOB_COLLECTIONS[0]:
            job["jobProgress"] = {}
        return job, None

    def _ready_dataset(
        self, value: Any, field: str, *, required: bool = False
    ) -> tuple[str, web.Response | None]:
        if not value:
            if required:
                return "", _error("INVALID_ARGUMENT", f"{field} is required")
            return "", None
        dataset_id = str(value).rsplit("/", 1)[-1]
        name = self._name("datasets", dataset_id)
        if str(value) not in (dataset_id, name) or dataset_id not in self.datasets:
            return name, _error("NOT_FOUND", f"dataset {value} not found")
        if self.datasets[dataset_id]["state"] != "READY":
            # Fake's choice: the docs say to wait for READY but not what happens otherwise.
            return name, _error("FAILED_PRECONDITION", f"dataset {name} is not READY")
        return name, None

    async def _list_jobs(self, request: web.Request) -> web.Response:
        collection = request.path.rstrip("/").rsplit("/", 1)[-1]
        prefix = self._name(collection, "")
        # Ordered by name unless orderBy says otherwise (fake: orderBy is ignored).
        items = [self.jobs[n] for n in sorted(self.jobs) if n.startswith(prefix)]
        return _page(request, collection, items)

    async def _get_job(self, request: web.Request) -> web.Response:
        name = self._job_name(request)
        if name not in self.jobs:
            return _error("NOT_FOUND", f"{name} not found")
        return web.json_response(self.jobs[name])

    async def _delete_job(self, request: web.Request) -> web.Response:
        name = self._job_name(request)
        if self.jobs.pop(name, None) is None:
            return _error("NOT_FOUND", f"{name} not found")
        return web.json_response({})

    async def _cancel_job(self, request: web.Request) -> web.Response:
        name = self._job_name(request)
        job = self.jobs.get(name)
        if job is None:
            return _error("NOT_FOUND", f"{name} not found")
        if job["state"] in TERMINAL_JOB_STATES:
            return _error("FAILED_PRECONDITION", f"{name} is already {job['state']}")
        self.set_job(name, "JOB_STATE_CANCELLED")
        return web.json_response({})

    def _job_name(self, request: web.Request) -> str:
        collection = request.path.split("/")[4]
        return self._name(collection, request.match_info["job_id"])

    def _add_output_model(self, job: dict[str, Any]) -> None:
        config = job.get("trainingConfig", job)
        name = config["outputModel"]
        if name in self.models:
            return
        base = config.get("baseModel")
        if not base:
            parent = self.models.get(config.get("warmStartFrom", ""), {})
            base = parent.get("peftDetails", {}).get("baseModel")
        now = _now()
        self.models[name] = {
            "name": name,
            "displayName": job.get("displayName", ""),
            "createTime": now,
            "updateTime": now,
            "kind": "HF_PEFT_ADDON",
            "state": "READY",
            "status": {"code": "OK", "message": ""},
            "peftDetails": {
                "baseModel": base,
                "r": config.get("loraRank") or DEFAULT_LORA_RANK,
                "targetModules": [],
            },
            "fineTuningJob": job["name"],
        }

    # ----- models and deployed models -----------------------------------------

    async def _get_model(self, request: web.Request) -> web.Response:
        account, model_id = request.match_info["account_id"], request.match_info["model_id"]
        name = f"accounts/{account}/models/{model_id}"
        if name in self.models:
            return web.json_response(self.models[name])
        if name in self.tunable_models | self.served_models and account == "fireworks":
            return web.json_response(
                {"name": name, "kind": "HF_BASE_MODEL", "state": "READY", "tunable": True}
            )
        return _error("NOT_FOUND", f"model {name} not found")

    async def _load_lora(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None:
            return _error("INVALID_ARGUMENT", "the body must be a JSON object")
        model = body.get("model")
        serverless, deployment = bool(body.get("serverless")), body.get("deployment")
        if serverless == bool(deployment):
            return _error("INVALID_ARGUMENT", "set exactly one of serverless: true or deployment")
        if not model:
            return _error("INVALID_ARGUMENT", "model is required")
        record = self.models.get(model)
        if record is None:
            return _error("NOT_FOUND", f"model {model} not found")
        if record["state"] != "READY":
            return _error("FAILED_PRECONDITION", f"model {model} is not READY")
        base, rank = record["peftDetails"]["baseModel"], record["peftDetails"]["r"]
        copies = [d for d in self.deployed_models.values() if d["model"] == model]
        if serverless:
            if base not in self.serverless_lora_bases:
                return _error("FAILED_PRECONDITION", f"{base} adapters cannot load on serverless")
            if rank > SERVERLESS_LORA_MAX_RANK:
                return _error("FAILED_PRECONDITION", f"rank {rank} is above 64")
            if any(d["serverless"] for d in copies):
                return _error("ALREADY_EXISTS", f"{model} is already loaded on serverless")
            loaded = [
                d
                for d in self.deployed_models.values()
                if d["serverless"] and self.models[d["model"]]["peftDetails"]["baseModel"] == base
            ]
            if len(loaded) >= SERVERLESS_LORA_LIMIT:
                return _error("RESOURCE_EXHAUSTED", f"at most 3 adapters on {base} at a time")
        else:
            target = self.deployments.get(deployment)
            if target is None:
                return _error("NOT_FOUND", f"deployment {deployment} not found")
            if not target.get("enableAddons") or target.get("baseModel") != base:
                return _error("FAILED_PRECONDITION", f"{deployment} cannot take {model}")
            if any(d.get("deployment") == deployment for d in copies):
                return _error("ALREADY_EXISTS", f"{model} is already loaded on {deployment}")
        name = self._name("deployedModels", uuid.uuid4().hex[:8])
        now = _now()
        self.deployed_models[name] = {
            "name": name,
            "model": model,
            "serverless": serverless,
            "default": not copies,
            "state": "DEPLOYING",
            "status": {"code": "OK", "message": ""},
            "displayName": body.get("displayName", ""),
            "description": body.get("description", ""),
            "createTime": now,
            "updateTime": now,
        }
        if deployment:
            self.deployed_models[name]["deployment"] = deployment
        self._deploy_polls[name] = self.deploy_polls
        return web.json_response(self.deployed_models[name])

    async def _list_deployed_models(self, request: web.Request) -> web.Response:
        items = [self._polled_deployed(name) for name in sorted(self.deployed_models)]
        return _page(request, "deployedModels", items)

    async def _get_deployed_model(self, request: web.Request) -> web.Response:
        name = self._name("deployedModels", request.match_info["deployed_model_id"])
        if name not in self.deployed_models:
            return _error("NOT_FOUND", f"{name} not found")
        return web.json_response(self._polled_deployed(name))

    async def _unload_lora(self, request: web.Request) -> web.Response:
        name = self._name("deployedModels", request.match_info["deployed_model_id"])
        record = self.deployed_models.pop(name, None)
        if record is None:
            return _error("NOT_FOUND", f"{name} not found")
        self._deploy_polls.pop(name, None)
        self._refresh_served(record["model"])
        return web.json_response({})

    def _polled_deployed(self, name: str) -> dict[str, Any]:
        record = self.deployed_models[name]
        if name in self._deploy_polls:
            if self._deploy_polls[name] <= 0:
                del self._deploy_polls[name]
                record["state"] = "DEPLOYED"
                record["updateTime"] = _now()
                self._refresh_served(record["model"])
            else:
                self._deploy_polls[name] -= 1
        return record

    def _refresh_served(self, model: str) -> None:
        if any(
            d["model"] == model and d["state"] == "DEPLOYED" for d in self.deployed_models.values()
        ):
            self.served_models.add(model)
        elif model in self.models:
            self.served_models.discard(model)

    def _deployed_name(self, name_or_id: str) -> str:
        name = name_or_id if "/" in name_or_id else self._name("deployedModels", name_or_id)
        if name not in self.deployed_models:
            raise AssertionError(f"unknown deployed model {name_or_id}")
        return name

    # ----- inference ---------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        if body is None:
            return _inference_error(400, "INVALID_ARGUMENT", "the body must be a JSON object")
        self.chat_requests.append(body)
        model = body.get("model")
        if not body.get("messages"):
            return _inference_error(400, "INVALID_ARGUMENT", "messages is required", "messages")
        # "<model>#<deployment>" picks one copy; the fake only checks the model is served.
        if not isinstance(model, str) or model.split("#", 1)[0] not in self.served_models:
            return _inference_error(
                404, "NOT_FOUND", "Model not found, inaccessible, and/or not deployed", "model"
            )
        completion_id = f"chatcmpl-{len(self.chat_requests):06d}"
        content = f"Reply from {model}"
        if body.get("stream"):
            return await stream_chat_reply(request, completion_id, model, content)
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            }
        )

    async def _unknown_url(self, request: web.Request) -> web.Response:
        if request.path.startswith("/inference/"):
            return _inference_error(404, "NOT_FOUND", f"Not Found: {request.path}")
        return _error("NOT_FOUND", f"Not Found: {request.method} {request.path}")

    # ----- helpers -------------------------------------------------------------

    def _name(self, collection: str, resource_id: str) -> str:
        return f"accounts/{self.account_id}/{collection}/{resource_id}"

    def _missing(self, collection: str, resource_id: str) -> web.Response:
        return _error("NOT_FOUND", f"{self._name(collection, resource_id)} not found")

    def _job_or_fail(self, job_name_or_id: str) -> dict[str, Any]:
        if job_name_or_id in self.jobs:
            return self.jobs[job_name_or_id]
        matches = [n for n in self.jobs if n.rsplit("/", 1)[-1] == job_name_or_id]
        if len(matches) != 1:
            raise AssertionError(f"no single job {job_name_or_id}; jobs: {list(self.jobs)}")
        return self.jobs[matches[0]]


# ----- response helpers --------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _model_name(value: str, account: str = "fireworks") -> str:
    """A bare model ID becomes accounts/{account}/models/{id} (fake's normalization)."""
    return value if "/" in value else f"accounts/{account}/models/{value}"


def _output_model(job: dict[str, Any]) -> str | None:
    return job.get("trainingConfig", job).get("outputModel")


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(code: str, message: str) -> web.Response:
    """The control plane's error body: a google.rpc.Status as grpc-gateway writes it."""
    return web.json_response(
        {"code": GRPC_CODES[code], "message": message, "details": []}, status=HTTP_STATUS[code]
    )


def _inference_error(
    status: int, code: str, message: str, param: str | None = None
) -> web.Response:
    """The inference plane's error body, OpenAI-style with Fireworks' code names."""
    error = {
        "object": "error",
        "type": "invalid_request_error",
        "code": code,
        "message": message,
        "param": param,
    }
    return web.json_response({"error": error}, status=status)


def _page(request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
    """AIP-158 pagination: pageSize (default 50, at most 200), opaque pageToken,
    nextPageToken ("" on the last page) and totalSize. `filter` takes `field=value`
    terms joined by AND (a subset of AIP-160); `orderBy` is ignored."""
    try:
        size = int(request.query.get("pageSize") or DEFAULT_PAGE_SIZE)
        start = int(request.query.get("pageToken") or 0)
    except ValueError:
        return _error("INVALID_ARGUMENT", "invalid pageSize or pageToken")
    if size < 0 or start < 0:
        return _error("INVALID_ARGUMENT", "invalid pageSize or pageToken")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    terms = [t for t in re.split(r"\s+AND\s+", request.query.get("filter", "").strip()) if t]
    for term in terms:
        field, sep, wanted = term.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", field.strip()):
            return _error("INVALID_ARGUMENT", f"unsupported filter: {term!r}")
        wanted = wanted.strip().strip('"')
        items = [i for i in items if _filter_value(i.get(field.strip())) == wanted]
    chunk = items[start : start + size]
    following = start + size if start + size < len(items) else None
    return web.json_response(
        {
            key: chunk,
            "nextPageToken": str(following) if following is not None else "",
            "totalSize": len(items),
        }
    )


def _filter_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


async def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering; the client sees a disconnect."""
    if request.transport is not None:
        request.transport.close()
    response = web.StreamResponse()
    response.force_close()
    return response


if __name__ == "__main__":
    run_standalone(FakeFireworks, "Serve a fake Fireworks AI API on 127.0.0.1.")
