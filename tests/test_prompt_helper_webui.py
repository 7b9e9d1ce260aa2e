"""The txt2img "Interactions" menu in headless chromium, on a real gradio app with the tab in it and --api-auth set:
the list comes through the page's own gradio event, while the HTTP API still refuses requests without credentials."""

import socket
from pathlib import Path

import pytest

from browser import dump_dom, page_result, require_chromium
from share_helpers import SLUG, make_export
from webui_standin import host as webui_host
from webui_standin import webui  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
DUMP_ATTEMPTS = 3  # page loads per test: only a page that never shows the menu fails
# What A1111's script.js and ui.js give extension scripts (gradioApp, onUiLoaded, updateInput), then interinv.js, then
# a probe that writes the menu's entries into the DOM for --dump-dom.
HEAD = """<script>
function gradioApp() {{
  var app = document.getElementsByTagName("gradio-app")[0];
  return app && app.shadowRoot ? app.shadowRoot : document;
}}
function updateInput(target) {{ target.dispatchEvent(new Event("input", {{bubbles: true}})); }}
var uiLoaded = [];
function onUiLoaded(callback) {{ uiLoaded.push(callback); }}
var loaded = setInterval(function () {{
  if (!gradioApp().querySelector("#txt2img_prompt textarea")) return;
  clearInterval(loaded);
  uiLoaded.forEach(function (callback) {{ callback(); }});
}}, 100);
var probe = setInterval(function () {{
  var select = gradioApp().querySelector("#interinv_txt2img_select");
  if (!select) return;
  clearInterval(probe);
  var options = Array.prototype.map.call(select.options, function (o) {{ return o.textContent; }});
  document.body.setAttribute("data-result", JSON.stringify({{options: options}}));
}}, 100);
</script><script>{script}</script><style>{style}</style>"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def page(webui, host, monkeypatch):
    """The WebUI's page: a txt2img prompt and the InterInv tab, our scripts in its head, the API behind --api-auth."""
    import gradio as gr
    import gradio.routes

    from interinv.ui import api, tab
    from modules import shared

    make_export(webui["data_dir"] / "embeddings" / "interactions" / SLUG, host)
    head = HEAD.format(script=(ROOT / "javascript" / "interinv.js").read_text(), style=(ROOT / "style.css").read_text())
    original = gradio.routes.templates.TemplateResponse

    def with_scripts(*args, **kwargs):  # how A1111 adds extension scripts to the page (ui_gradio_extensions.py)
        response = original(*args, **kwargs)
        response.body = response.body.replace(b"</head>", head.encode() + b"</head>")
        response.init_headers()
        return response

    monkeypatch.setattr(gradio.routes.templates, "TemplateResponse", with_scripts)
    shared.cmd_opts.api_auth = "alice:secret"
    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Textbox(label="Prompt", lines=3, elem_id="txt2img_prompt")
        with gr.Tab("Interaction Inversion"):
            tab.build(webui_host).render()
    port = free_port()
    app, _local, _share = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    api.register(app, host_factory=webui_host)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_the_interactions_menu_lists_what_is_installed_when_the_api_needs_credentials(page, tmp_path):
    import urllib.error
    import urllib.request

    require_chromium()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(page + "interinv/v1/interactions", timeout=30)
    for attempt in range(DUMP_ATTEMPTS):  # a loaded machine can outlast chromium's virtual time before the list arrives
        dom = dump_dom(page, tmp_path / f"profile{attempt}", budget_ms=300000)
        found = page_result(dom)
        if found:
            break
    assert refused.value.code == 401 and found, dom[-2000:]
    assert found["options"] == ["Interactions", SLUG]


def test_the_menu_appears_when_the_pages_first_list_click_is_dropped(tmp_path):
    """Found on Forge's real page: onUiLoaded fires before gradio 4 has wired the hidden list button, so its first
    click is lost; interinv.js must click again until the list arrives."""
    require_chromium()
    page = tmp_path / "page.html"
    wired = """<script>
var clicks = 0;
document.addEventListener("DOMContentLoaded", function () {
  document.getElementById("interinv_list_interactions").addEventListener("click", function () {
    clicks += 1;
    if (clicks > 1) setTimeout(function () { interinv.receiveInteractions('[{"slug": "late"}]'); }, 10);
  });
});
</script>"""
    page.write_text("<html><head>" + wired + HEAD.format(script=(ROOT / "javascript" / "interinv.js").read_text(),
                                                          style="")
                    + "</head><body><div id='txt2img_prompt'><textarea></textarea></div>"
                    + "<button id='interinv_list_interactions'></button></body></html>")
    dom = dump_dom(page.as_uri(), tmp_path / "profile", budget_ms=30000)
    found = page_result(dom)
    assert found, dom[-2000:]
    assert found["options"] == ["Interactions", "late"]
