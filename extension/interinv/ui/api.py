"""The HTTP API under the WebUI's FastAPI app: /interinv/v1/...

POST /interinv/v1/train                      -> {"task_id": ...} at once (tasks run FIFO, one at a time)
GET  /interinv/v1/tasks/{task_id}            -> status, stage, step, total, loss, error, files
POST /interinv/v1/tasks/{task_id}/interrupt  -> stops the task (its state is saved for resume)
GET  /interinv/v1/interactions               -> installed interactions with their manifests
"""


import base64
import binascii
import json
import secrets
import uuid
from pathlib import Path

from ..config import config_from_dict
from ..errors import InterInvError
from . import jobs, library

PREFIX = "/interinv/v1"
DEFAULT_MAX_UPLOAD = 64 * 1024 * 1024  # bytes per request
DATA_URI = "data:"


class FieldError(InterInvError):
    """A request field that is missing or malformed (HTTP 422)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _max_upload() -> int:
    from modules import shared

    return int(getattr(shared.opts, "interinv_api_max_upload_mb", DEFAULT_MAX_UPLOAD // 2**20) * 2**20)


def allowed_roots() -> list[Path]:
    """Server paths are read only below the WebUI's data folder or the configured root."""
    from modules import shared

    roots = [Path(getattr(shared.cmd_opts, "data_dir", None) or shared.data_path)]
    extra = getattr(shared.opts, "interinv_api_root", "") or ""
    if extra:
        roots.append(Path(extra))
    return [r.resolve() for r in roots]


def _server_path(value: str, field: str, folder: bool = False) -> Path:
    path = Path(value).expanduser().resolve()
    if not any(path == root or root in path.parents for root in allowed_roots()):
        raise FieldError(field, f"'{value}' is outside the WebUI's data folder and the configured InterInv root.")
    if not (path.is_dir() if folder else path.is_file()):
        raise FieldError(field, f"'{value}' is not a {'folder' if folder else 'file'} on the server.")
    return path


def _image(value, field: str, uploads: Path) -> Path:
    """A base64 data URI (or {"base64": ...}) written to the upload folder, or an allowed server path."""
    if isinstance(value, dict):
        if "base64" in value:
            value = DATA_URI + "image/png;base64," + str(value["base64"])
        elif "path" in value:
            value = str(value["path"])
    if not isinstance(value, str) or not value:
        raise FieldError(field, "expected a base64 data URI or a server path string.")
    if not value.startswith(DATA_URI):
        return _server_path(value, field)
    try:
        payload = base64.b64decode(value.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error) as exc:
        raise FieldError(field, f"invalid base64 ({exc}).") from exc
    uploads.mkdir(parents=True, exist_ok=True)
    path = uploads / f"{uuid.uuid4().hex}.png"
    path.write_bytes(payload)
    return path


def spec_from_body(body: dict) -> jobs.TrainSpec:
    if not isinstance(body, dict):
        raise FieldError("body", "expected a JSON object.")
    name = body.get("name")
    if not isinstance(name, str):
        raise FieldError("name", "expected the interaction's name, e.g. \"kisshand\".")
    subjects = body.get("subjects")
    if not (isinstance(subjects, list) and len(subjects) == 2 and all(isinstance(s, str) and s for s in subjects)):
        raise FieldError("subjects", "expected two subject words, e.g. [\"man\", \"woman\"].")
    uploads = jobs.data_root() / "uploads" / uuid.uuid4().hex
    images = body.get("images", [])
    if not isinstance(images, list):
        raise FieldError("images", "expected a list of images.")
    exemplars = [_image(v, f"images[{i}]", uploads) for i, v in enumerate(images)]
    folder_poses = []
    if body.get("folder") is not None:
        if not isinstance(body["folder"], str):
            raise FieldError("folder", "expected a server folder path string.")
        found, folder_poses = jobs.folder_images(_server_path(body["folder"], "folder", folder=True))
        exemplars += [_server_path(str(p), "folder") for p in found]  # a link inside may point elsewhere
        folder_poses = [_server_path(str(p), "folder") for p in folder_poses]
    stage1 = body.get("stage1") or {}
    if not isinstance(stage1, dict):
        raise FieldError("stage1", "expected {\"p1\": [...], \"p2\": [...]}.")
    singles = {side: [_image(v, f"stage1.{side}[{i}]", uploads) for i, v in enumerate(stage1.get(side) or [])]
               for side in ("p1", "p2")}
    poses = []
    for index, pose in enumerate(body.get("poses") or []):
        if not isinstance(pose, dict):
            raise FieldError(f"poses[{index}]", "expected an OpenPose JSON object.")
        uploads.mkdir(parents=True, exist_ok=True)
        path = uploads / f"{exemplars[index].stem}.json" if index < len(exemplars) else uploads / f"pose{index}.json"
        path.write_text(json.dumps(pose))
        poses.append(path)
    try:
        config = config_from_dict({**(body.get("config") or {}), "name": name}, "config")
    except (InterInvError, TypeError) as exc:
        raise FieldError("config", str(exc)) from exc
    source = body.get("stage1_source", "upload" if any(singles.values()) else "controlnet")
    if source not in jobs.STAGE1_SOURCES:
        raise FieldError("stage1_source", f"expected one of {', '.join(jobs.STAGE1_SOURCES)}.")
    per_subject, sample_steps = (_count(body, key, default) for key, default in (("per_subject", 8), ("sample_steps", 20)))
    return jobs.TrainSpec(name=name, subjects=(subjects[0], subjects[1]), exemplars=exemplars, stage1=singles,
                          config=config, poses=poses + folder_poses, overwrite=bool(body.get("overwrite", False)),
                          resume=bool(body.get("resume", False)), source=source, per_subject=per_subject,
                          sample_steps=sample_steps)


def _count(body: dict, key: str, default: int) -> int:
    value = body.get(key, default)
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise FieldError(key, "expected a whole number of at least 1.")
    return value


def _auth_dependency():
    """HTTP Basic auth against --api-auth (user:pass[,user:pass]) when it is set, like the WebUI's own API."""
    from fastapi import Depends, HTTPException
    from fastapi.security import HTTPBasic, HTTPBasicCredentials

    from modules import shared

    auth = getattr(shared.cmd_opts, "api_auth", None)
    if not auth:
        return []
    credentials = dict(pair.split(":", 1) for pair in auth.strip('"').replace("\n", "").split(",") if ":" in pair)
    basic = HTTPBasic()

    def check(creds: HTTPBasicCredentials = Depends(basic)):
        expected = credentials.get(creds.username)
        if expected is None or not secrets.compare_digest(creds.password, expected):
            raise HTTPException(status_code=401, detail="Incorrect username or password",
                                headers={"WWW-Authenticate": "Basic"})
        return True

    return [Depends(check)]


async def _bounded_body(request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed `limit` bytes (never read past it)."""
    if int(request.headers.get("content-length") or 0) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def register(app, host_factory=None) -> None:
    """Add the routes to the WebUI's FastAPI app (idempotent across UI reloads)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    if any(getattr(route, "path", "") == f"{PREFIX}/train" for route in app.routes):
        return
    dependencies = _auth_dependency()

    async def train(request: Request):
        raw = await _bounded_body(request, _max_upload())
        if raw is None:
            return JSONResponse({"detail": f"Request larger than {_max_upload() // 2**20} MB (Settings > "
                                           "Interaction Inversion > Largest HTTP API request)."}, status_code=413)
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            return JSONResponse({"detail": f"body: invalid JSON ({exc}).", "field": "body"}, status_code=422)
        try:
            spec = spec_from_body(body)
        except FieldError as exc:
            return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=422)
        task = jobs.submit(spec, host_factory)
        return {"task_id": task.id}

    def task_status(task_id: str):
        task = jobs.get(task_id)
        if task is None:
            return JSONResponse({"detail": f"No task '{task_id}'."}, status_code=404)
        return task.summary()

    def interrupt(task_id: str):
        if not jobs.interrupt(task_id):
            return JSONResponse({"detail": f"No task '{task_id}'."}, status_code=404)
        return jobs.get(task_id).summary()

    def interactions():
        return {"interactions": [interaction.manifest for interaction in library.installed()]}

    app.add_api_route(f"{PREFIX}/train", train, methods=["POST"], dependencies=dependencies)
    app.add_api_route(f"{PREFIX}/tasks/{{task_id}}", task_status, methods=["GET"], dependencies=dependencies)
    app.add_api_route(f"{PREFIX}/tasks/{{task_id}}/interrupt", interrupt, methods=["POST"], dependencies=dependencies)
    app.add_api_route(f"{PREFIX}/interactions", interactions, methods=["GET"], dependencies=dependencies)
