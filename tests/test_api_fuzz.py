"""Every field of every HTTP API route, given values of the wrong type, answers 4xx and never a 500 (with a traceback).

A request that still validates is accepted (200) but not trained: `jobs.submit` only records it here.
"""

import dataclasses
import json

import pytest

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from api_helpers import body, client
from standin import demo, webui  # noqa: F401  (fixtures)

from interinv.config import TrainConfig
from interinv.ui import api, jobs

WRONG = [0, -1, 1.5, 10**20, "", "x", "true", "false", "no", "x" * 100_000, "/" + "a" * 300, "../evil", "a\x00b",
         [], [1], ["a", "b"], [None], {}, {"a": 1}, None, True, False]


def config_paths(cls=TrainConfig, prefix=("config",)):
    """Every option of TrainConfig as a path of keys, nested sections included."""
    for item in dataclasses.fields(cls):
        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        yield prefix + (item.name,)
        if dataclasses.is_dataclass(default):
            yield from config_paths(type(default), prefix + (item.name,))


def body_paths():
    """Every field of a train request: the top-level ones, list items, stage-1 sides and config options."""
    yield from ((name,) for name in api.FIELDS)
    yield from (("images", 0), ("poses", 0), ("subjects", 0), ("subjects", 1), ("stage1", "p1"), ("stage1", "p2"),
                ("stage1", "p1", 0))
    yield from config_paths()


def with_value(request: dict, path: tuple, value) -> dict:
    request = json.loads(json.dumps(request))
    node = request
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            node = node[key]
    if isinstance(node, list):
        node.extend([None] * (path[-1] + 1 - len(node)))
    node[path[-1]] = value
    return request


@pytest.fixture()
def recorded(monkeypatch):
    submitted = []
    monkeypatch.setattr(jobs, "submit", lambda spec, *_: submitted.append(spec) or jobs.Task(id="fuzz", spec=spec))
    return submitted


def test_no_wrong_value_in_any_train_request_field_gives_a_500(webui, demo, recorded):
    http = client()
    valid = body(demo, poses=[{"canvas_width": 64, "canvas_height": 64, "people": []}])
    failures = []
    for path in body_paths():
        for value in WRONG:
            response = http.post("/interinv/v1/train", json=with_value(valid, path, value))
            if response.status_code not in (200, 422) or (response.status_code == 422 and "field" not in response.json()):
                failures.append((path, repr(value)[:40], response.status_code, response.text[:200]))
    assert failures == []
    assert recorded, "no request in the fuzz was accepted: the base body must be valid"


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b"5", b'"x"', b"true", b'{"name": NaN}', b"\xff\xfe", b"{" * 10_000])
def test_no_malformed_train_body_gives_a_500(webui, raw):
    response = client().post("/interinv/v1/train", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] in ("body", "name"), response.text


@pytest.mark.parametrize("task_id", ["x", "x" * 10_000, "../evil", "%00", "null", "5", "true"])
def test_no_task_id_gives_a_500_on_the_task_routes(webui, task_id):
    http = client()
    assert http.get(f"/interinv/v1/tasks/{task_id}").status_code == 404
    assert http.post(f"/interinv/v1/tasks/{task_id}/interrupt").status_code == 404


@pytest.mark.parametrize("query", ["", "?x=1", "?slug=" + "x" * 10_000])
def test_the_interactions_route_ignores_what_it_does_not_take(webui, query):
    response = client().get(f"/interinv/v1/interactions{query}")
    assert response.status_code == 200 and response.json() == {"interactions": []}
