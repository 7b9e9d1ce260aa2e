"""The HTTP API under the WebUI's FastAPI app: /interinv/v1/...

POST /interinv/v1/train                      -> {"task_id": ...} at once (tasks run FIFO, one at a time)
GET  /interinv/v1/tasks/{task_id}            -> status, stage, step, total, loss, error, files
POST /interinv/v1/tasks/{task_id}/interrupt  -> stops the task (its state is saved for resume)
GET  /interinv/v1/interactions               -> installed interactions with their manifests
"""


import base64
import binascii
import dataclasses
import io
import json
import secrets
import uuid
from pathlib import Path

from PIL import Image

from ..config import config_from_dict
from ..errors import FieldError, InterInvError
from ..formats.interaction_file import check_subjects
from ..hosts import a1111_host as webui
from ..core.tokens import check_slug
from . import jobs, library

PREFIX = "/interinv/v1"
DEFAULT_MAX_UPLOAD = 64 * 1024 * 1024  # bytes per request
DATA_URI = "data:"
FIELDS = ("name", "subjects", "images", "folder", "poses", "stage1", "stage1_source", "per_subject", "sample_steps",
          "config", "overwrite", "resume")
RESUME_FIELDS = ("name", "resume")
COUNTS = {"per_subject": (8, 64), "sample_steps": (20, 150)}  # default and largest value of each count field


def _max_upload() -> int:
    return int(webui.setting("interinv_api_max_upload_mb", DEFAULT_MAX_UPLOAD // 2**20) * 2**20)


def allowed_roots() -> list[Path]:
    """Server paths are read only below the WebUI's data folder or the configured root."""
    roots = [webui.data_dir()]
    extra = webui.setting("interinv_api_root", "") or ""
    if extra:
        roots.append(Path(extra))
    return [r.resolve() for r in roots]


def _server_path(value: str, field: str, folder: bool = False) -> Path:
    try:
        path = Path(value).expanduser().resolve()
        inside = any(path == root or root in path.parents for root in allowed_roots())
        found = inside and (path.is_dir() if folder else path.is_file())
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise FieldError(field, f"'{value[:80]}' is not a usable server path ({exc}).") from exc
    if not inside:
        raise FieldError(field, f"'{value}' is outside the WebUI's data folder and the configured InterInv root.")
    if not found:
        raise FieldError(field, f"'{value}' is not a {'folder' if folder else 'file'} on the server.")
    return path


class Uploads:
    """The request's decoded files, written to <data>/interinv/uploads/<id>/ only once the whole request is valid."""

    def __init__(self) -> None:
        self.folder = jobs.data_root() / "uploads" / uuid.uuid4().hex
        self.files: dict[Path, bytes] = {}

    def add(self, name: str, payload: bytes) -> Path:
        path = self.folder / name
        self.files[path] = payload
        return path

    def write(self) -> Path | None:
        for path, payload in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
        return self.folder if self.files else None


def _image(value, field: str, uploads: Uploads) -> Path:
    """A base64 data URI (or {"base64": ...}) holding an image, or an allowed server path."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
        if "base64" in value:
            value = DATA_URI + "image/png;base64," + value["base64"]
        elif "path" in value:
            value = value["path"]
    if not isinstance(value, str) or not value:
        raise FieldError(field, "expected a base64 data URI, {\"base64\": ...}, or a server path string.")
    if not value.startswith(DATA_URI):
        return _server_path(value, field)
    try:
        payload = base64.b64decode(value.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error) as exc:
        raise FieldError(field, f"invalid base64 ({exc}).") from exc
    try:
        with Image.open(io.BytesIO(payload)) as image:
            image.verify()
    except Exception as exc:  # PIL raises many types for data that is not an image
        raise FieldError(field, f"the data is not an image PIL can read ({type(exc).__name__}).") from exc
    return uploads.add(f"{uuid.uuid4().hex}.png", payload)


def _images(values, field: str, uploads: Uploads) -> list[Path]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise FieldError(field, "expected a list of images (base64 data URIs or server paths).")
    return [_image(v, f"{field}[{i}]", uploads) for i, v in enumerate(values)]


def _flag(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise FieldError(key, f"expected true or false, got {json.dumps(value)[:40]}.")
    return value


def _count(body: dict, key: str) -> int:
    default, largest = COUNTS[key]
    value = body.get(key, default)
    if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= largest):
        raise FieldError(key, f"expected a whole number from 1 to {largest}.")
    return value


def _subjects(body: dict) -> tuple[str, str]:
    try:
        return check_subjects(body.get("subjects"), "the request's")
    except InterInvError as exc:
        raise FieldError("subjects", str(exc)) from exc


def _stage1(body: dict, uploads: Uploads) -> dict[str, list[Path]]:
    stage1 = _object(body, "stage1")
    if set(stage1) - {"p1", "p2"}:
        raise FieldError("stage1", "expected {\"p1\": [...], \"p2\": [...]}.")
    return {side: _images(stage1.get(side), f"stage1.{side}", uploads) for side in ("p1", "p2")}


def _poses(body: dict, exemplars: list[Path], uploads: Uploads) -> list[Path]:
    """OpenPose JSON objects in the order of `images`, each named after its image."""
    poses = body.get("poses")
    if poses is None:
        return []
    if not isinstance(poses, list):
        raise FieldError("poses", "expected a list of OpenPose JSON objects, in the order of the images.")
    paths = []
    for index, pose in enumerate(poses):
        if not isinstance(pose, dict):
            raise FieldError(f"poses[{index}]", "expected an OpenPose JSON object.")
        stem = exemplars[index].stem if index < len(exemplars) else f"pose{index}"
        paths.append(uploads.add(f"{stem}.json", json.dumps(pose).encode()))
    return paths


def _folder(body: dict) -> tuple[list[Path], list[Path]]:
    """The exemplar images and pose JSON of a server folder, every one of them inside the allowed roots."""
    if body.get("folder") is None:
        return [], []
    if not isinstance(body["folder"], str):
        raise FieldError("folder", "expected a server folder path string.")
    found, poses = jobs.folder_images(_server_path(body["folder"], "folder", folder=True))
    return ([_server_path(str(p), "folder") for p in found],  # a link inside may point elsewhere
            [_server_path(str(p), "folder") for p in poses])


def _resume(body: dict, name: str) -> jobs.TrainSpec:
    """A resumed task continues with what it was started with: the name is all it takes."""
    extra = sorted(set(body) - set(RESUME_FIELDS))
    if extra:
        raise FieldError(extra[0], "a resumed task continues with the settings it was started with; send only "
                                   "\"name\" and \"resume\".")
    return jobs.resume_spec(name)


def spec_from_body(body) -> jobs.TrainSpec:
    """A TrainSpec from a request body, every field checked (FieldError names the bad one) before anything is written."""
    if not isinstance(body, dict):
        raise FieldError("body", "expected a JSON object.")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise FieldError(unknown[0], f"unknown field; known fields: {', '.join(FIELDS)}.")
    name = body.get("name")
    try:
        check_slug(name)
    except InterInvError as exc:
        raise FieldError("name", str(exc)) from exc
    if _flag(body, "resume"):
        return _resume(body, name)
    subjects, uploads = _subjects(body), Uploads()
    exemplars = _images(body.get("images"), "images", uploads)
    poses = _poses(body, exemplars, uploads)
    folder_exemplars, folder_poses = _folder(body)
    singles = _stage1(body, uploads)
    try:
        # the loaded checkpoint's family sets the default side (1024 on SDXL); the request's own value wins
        config = config_from_dict({"resolution": webui.default_resolution(), **_object(body, "config"), "name": name},
                                  "config")
    except InterInvError as exc:
        raise FieldError("config", str(exc)) from exc
    source = body.get("stage1_source", "upload" if any(singles.values()) else "controlnet")
    if source not in jobs.STAGE1_SOURCES:
        raise FieldError("stage1_source", f"expected one of {', '.join(jobs.STAGE1_SOURCES)}.")
    spec = jobs.TrainSpec(name=name, subjects=subjects, exemplars=exemplars + folder_exemplars, stage1=singles,
                          config=config, poses=poses + folder_poses, overwrite=_flag(body, "overwrite"),
                          source=source, per_subject=_count(body, "per_subject"),
                          sample_steps=_count(body, "sample_steps"))
    jobs.check_inputs(spec)
    jobs.check_target(spec)
    return dataclasses.replace(spec, uploads=uploads.write())


def _object(body: dict, key: str) -> dict:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(key, "expected a JSON object.")
    return value


def _auth_dependency():
    """HTTP Basic auth against --api-auth (user:pass[,user:pass]) when it is set, like the WebUI's own API."""
    from fastapi import Depends, HTTPException
    from fastapi.security import HTTPBasic, HTTPBasicCredentials

    auth = webui.command_line_option("api_auth")
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
            return JSONResponse({"detail": f"{exc.field}: {exc}", "field": exc.field}, status_code=422)
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
        return {"interactions": [interaction.manifest.to_dict() for interaction in library.installed()]}

    app.add_api_route(f"{PREFIX}/train", train, methods=["POST"], dependencies=dependencies)
    app.add_api_route(f"{PREFIX}/tasks/{{task_id}}", task_status, methods=["GET"], dependencies=dependencies)
    app.add_api_route(f"{PREFIX}/tasks/{{task_id}}/interrupt", interrupt, methods=["POST"], dependencies=dependencies)
    app.add_api_route(f"{PREFIX}/interactions", interactions, methods=["GET"], dependencies=dependencies)
