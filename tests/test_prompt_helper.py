"""javascript/interinv.js in a real headless Debian chromium, on a page shaped like A1111's (no extra test dependency:
the page writes its findings into the DOM and chromium's --dump-dom prints it)."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from browser import dump_dom, page_result, require_chromium

ROOT = Path(__file__).resolve().parent.parent

PAGE = """<!doctype html><html><body>
<div id="txt2img_prompt"><label><textarea>a photo, best quality</textarea></label></div>
<script>
var inputs = 0;
function gradioApp() { return document; }
function updateInput(target) { var e = new Event("input", {bubbles: true}); Object.defineProperty(e, "target", {value: target}); target.dispatchEvent(e); }
document.querySelector("#txt2img_prompt textarea").addEventListener("input", function () { inputs += 1; });
var keys = 0; document.addEventListener("keydown", function () { keys += 1; });
</script>
<script src="interinv.js"></script>
<script>
var area = document.querySelector("#txt2img_prompt textarea");
area.selectionStart = area.selectionEnd = 8;
var ok = window.interinv.insertInteraction("txt2img", {slug: "kisshand", subjects: ["man", "woman"],
  tokens: {p1: {name: "kisshand_p1"}, r: {name: "kisshand_r"}, p2: {name: "kisshand_p2"}}});
area.dispatchEvent(new KeyboardEvent("keydown", {key: "Tab", bubbles: true}));
var select = window.interinv.attach("txt2img", [{slug: "kisshand", subjects: ["man", "woman"]}]);
document.body.setAttribute("data-result", JSON.stringify({ok: ok, value: area.value, inputs: inputs,
  cursor: area.selectionStart, keys: keys, select: !!select, globals: Object.keys(window.interinv).length > 0}));
</script></body></html>"""


@pytest.fixture()
def server(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    shutil.copy(ROOT / "javascript" / "interinv.js", tmp_path / "interinv.js")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()


def test_template_is_inserted_at_the_cursor_and_the_input_event_fires(server, tmp_path):
    require_chromium()
    result = page_result(dump_dom(server, tmp_path / "profile", budget_ms=2000, timeout=60))
    assert result["value"] == "a photo,man kisshand_p1 kisshand_r woman kisshand_p2 best quality"
    assert result["inputs"] == 1 and result["ok"] and result["select"] and result["globals"]
    assert result["cursor"] == 8 + len("man kisshand_p1 kisshand_r woman kisshand_p2")
    assert result["keys"] == 1
