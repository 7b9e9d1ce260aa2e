"""Test helpers for sharing: a real export of a tiny model, and a local stand-in for the Hub's HTTP API."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import torch

SLUG = "kisshand"
TOKEN = "hf_TESTtokenDoNotLeak0123456789"  # the FakeHub's token, which must never leak
TEMPLATE = "a {o1} kisshand_p1 kisshand_r a {o2} kisshand_p2"
DESCRIPTION = "kneels and kisses the hand of"
# A1111's reading of an infotext (modules/infotext_utils.py): the last line holds `Key: value`
# pairs when it has at least three; a value in double quotes is a JSON string.
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def a1111_reads(infotext: str) -> tuple[str, dict[str, str]]:
    """(prompt, parameters) as A1111 reads them; fails when A1111 would take the last line for prompt."""
    *lines, last = infotext.strip().split("\n")
    pairs = A1111_PARAM.findall(last)
    assert len(pairs) >= 3, f"A1111 would read the last line as prompt: {last!r}"
    params = {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}
    return "\n".join(lines), params


def make_export(out_dir: Path, host, previews: bool = True) -> Path:
    """An interaction exported by interinv.export from the tiny SD1 test host (32-wide embeddings)."""
    from interinv.export import ExportInfo, export_interaction
    from interinv.core.tokens import PseudoWord, token_names

    generator = torch.Generator().manual_seed(0)
    words = {
        role: PseudoWord(name, {"clip_l": torch.nn.Parameter(torch.randn(1, 32, generator=generator))})
        for role, name in token_names(SLUG).items()
    }
    info = ExportInfo(SLUG, ("man", "woman"), TEMPLATE, DESCRIPTION)
    export_interaction(Path(out_dir), words, host, info, previews=previews)
    return Path(out_dir)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class _Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    private: bool = False


class FakeHub:
    """The few Hub endpoints that create_repo, upload_folder and snapshot_download call, on 127.0.0.1.

    Every file is answered as a regular (non-LFS) upload, so the commit carries the bytes inline.
    Every request is recorded; a request without `Authorization: Bearer <token>` gets a 401.
    """

    def __init__(self, token: str):
        self.token = token
        self.requests: list[Request] = []
        self.repos: dict[str, _Repo] = {}
        self.fail_status: int | None = None  # answer every request with this status, when set
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                hub._serve(self, "GET")

            def do_HEAD(self) -> None:
                hub._serve(self, "HEAD")

            def do_POST(self) -> None:
                hub._serve(self, "POST")

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in handler.headers.items()}
        request = Request(method, unquote(parts.path), parts.query, headers, body)
        self.requests.append(request)
        if self.fail_status is not None:
            return self._reply(handler, self.fail_status, {"error": "Refused by the test server"})
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(handler, 401, {"error": "Invalid credentials in Authorization header"})
        status, payload, headers = self._route(method, request)
        self._reply(handler, status, payload, headers, head=method == "HEAD")

    def _route(self, method: str, request: Request):
        path = request.path
        segments = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            data = json.loads(request.body)
            repo_id = f"{data['organization']}/{data['name']}"
            repo = self.repos.setdefault(repo_id, _Repo())
            repo.private = data.get("visibility") == "private" or bool(data.get("private"))
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}, {}
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}, {}
        if segments[:2] == ["api", "models"] and len(segments) >= 6:
            repo_id, action = "/".join(segments[2:4]), segments[4]
            if repo_id not in self.repos:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            repo = self.repos[repo_id]
            if method == "POST" and action == "preupload":
                files = json.loads(request.body)["files"]
                answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                return 200, {"files": answer}, {}
            if method == "POST" and action == "commit":
                return 200, self._commit(repo_id, repo, request.body), {}
            if method == "GET" and action == "revision":
                siblings = [{"rfilename": name} for name in sorted(repo.files)]
                return 200, {"id": repo_id, "sha": repo.commits[-1], "siblings": siblings, "private": repo.private}, {}
            if method == "GET" and action == "tree":
                entries = [
                    {"type": "file", "path": name, "size": len(data), "oid": _blob_id(data)}
                    for name, data in sorted(repo.files.items())
                ]
                return 200, entries, {}
        if len(segments) >= 5 and segments[2] == "resolve":
            repo_id, name = "/".join(segments[:2]), "/".join(segments[4:])
            repo = self.repos.get(repo_id)
            if repo is None or name not in repo.files:
                return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
            data = repo.files[name]
            headers = {"X-Repo-Commit": repo.commits[-1], "ETag": f'"{_blob_id(data)}"'}
            return 200, data, headers
        return 404, {"error": f"The test server does not know {method} {path}"}, {}

    def _commit(self, repo_id: str, repo: _Repo, body: bytes) -> dict:
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                value = item["value"]
                repo.files[value["path"]] = base64.b64decode(value["content"])
        oid = hashlib.sha1(body).hexdigest()
        repo.commits.append(oid)
        return {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "success": True}

    @staticmethod
    def _reply(handler, status: int, payload, headers: dict | None = None, head: bool = False) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(data)

    def commits(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and "/commit/" in r.path]


def _blob_id(data: bytes) -> str:
    """The git blob id of a file's bytes, as the Hub reports it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
