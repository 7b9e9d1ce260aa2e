"""The "Interactions" Extra Networks page on the stand-in WebUI: its cards, their sidecars and prompt, broken installs,
refresh, registration across Reload UI, and a card click in headless chromium."""

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import torch

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from browser import dump_dom, page_result, require_chromium
from share_helpers import DESCRIPTION, SLUG, make_export
from standin import a1111_host, demo, webui  # noqa: F401  (fixtures)

from interinv.job import Job

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a man kisshand_p1 kisshand_r a woman kisshand_p2"


def installed_root(webui):
    return webui["data_dir"] / "embeddings" / "interactions"


@pytest.fixture()
def installed(webui, host):
    """The tiny export, installed as the tab and `interinv install` install it."""
    return make_export(installed_root(webui) / SLUG, host)


def page():
    from interinv.ui.extra_networks import InteractionsPage

    return InteractionsPage()


def test_a_card_shows_the_r_preview_and_inserts_the_filled_template(installed):
    (item,) = page().list_items()
    assert item["name"] == SLUG and item["filename"] == str(installed / f"{SLUG}_r.safetensors")
    assert item["prompt"] == json.dumps(PROMPT)
    assert unquote(item["preview"]).startswith(f"./sd_extra_networks/thumb?filename={installed}/{SLUG}_r.preview.png&")
    assert item["local_preview"] == f"{installed}/{SLUG}_r.preview.png"
    assert item["description"] == DESCRIPTION
    assert item["search_terms"][:2] == [f"interactions/{SLUG}/{SLUG}_r.safetensors", PROMPT]
    assert item["sort_keys"]["default"] == 0 and item["sort_keys"]["name"] == f"{SLUG}_r.safetensors"


def test_the_json_sidecar_description_shows_on_the_card(installed):
    (installed / f"{SLUG}_r.json").write_text(json.dumps({"description": "Kneel & kiss a hand", "notes": ""}))
    interactions = page()
    cards = interactions.create_html("txt2img")
    assert interactions.items[SLUG]["description"] == "Kneel & kiss a hand" and "Kneel &amp; kiss a hand" in cards


def test_a_card_is_rebuilt_by_name_after_a_metadata_edit(installed):
    assert page().create_item(SLUG, enable_filter=False)["prompt"] == json.dumps(PROMPT)
    assert page().create_item("unknown") is None


@pytest.mark.parametrize("damage, reason", [
    (lambda folder: (folder / f"{SLUG}.interaction.json").write_text("{nope"), "could not be read"),
    (lambda folder: (folder / f"{SLUG}_p2.safetensors").unlink(), f"names '{SLUG}_p2.safetensors', which is not in"),
])
def test_a_broken_install_is_skipped_and_the_reason_logged(installed, caplog, damage, reason):
    broken = shutil.copytree(installed, installed.parent / "broken")
    damage(broken)
    with caplog.at_level(logging.WARNING, logger="interinv.ui.library"):
        items = list(page().list_items())
    assert [item["filename"] for item in items] == [str(installed / f"{SLUG}_r.safetensors")]
    (record,) = caplog.records
    assert f"skips the installed interaction in '{broken}'" in record.message and reason in record.message


def test_refresh_picks_up_an_interaction_installed_after_the_page_was_built(webui, host):
    interactions = page()
    assert interactions.create_html("txt2img") == "" and interactions.items == {}
    make_export(installed_root(webui) / SLUG, host)
    interactions.refresh()
    assert f"data-name='{SLUG}'" in interactions.create_html("txt2img") and list(interactions.items) == [SLUG]


class TextualInversionPageJob(Job):
    """Builds the WebUI's own Textual Inversion cards at every training step, as a user opening the panel would."""

    def __init__(self):
        self.cards = []

    def update(self, stage, step, losses):
        from modules.ui_extra_networks_textual_inversion import ExtraNetworksPageTextualInversion

        textual_inversion = ExtraNetworksPageTextualInversion()
        textual_inversion.create_html("txt2img")
        self.cards.append(sorted(textual_inversion.items))


def test_the_textual_inversion_cards_build_while_an_interaction_trains(webui, demo):
    from modules import sd_hijack

    from interinv.config import TrainConfig
    from interinv.engine.run import TrainRequest, run
    from interinv.formats.embedding_files import write_embedding

    host = a1111_host()
    write_embedding(webui["data_dir"] / "embeddings" / "style.safetensors",
                    {"clip_l": torch.zeros(1, host.embedding_dims["clip_l"])}, "sd1", {})
    sd_hijack.model_hijack.embedding_db.load_textual_inversion_embeddings(force_reload=True)
    config = TrainConfig(name="demo_kneel", resolution=64)
    for stage in (config.stage1, config.stage2):
        stage.steps, stage.batch_size, stage.preview_every = 2, 2, 1
    job = TextualInversionPageJob()
    run(host, TrainRequest(exemplars=demo / "exemplars", out=webui["data_dir"] / "out", config=config,
                           name=config.name, stage1_images=demo / "stage1"), job)
    assert job.cards and all(cards == ["style"] for cards in job.cards)


def run_entry_script():
    spec = importlib.util.spec_from_file_location("interinv.py", ROOT / "scripts" / "interinv.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_page_is_registered_once_across_reload_ui(webui):
    from modules import script_callbacks, ui_extra_networks

    for _reload in range(2):
        script_callbacks.clear_callbacks()  # what Reload UI does before it runs the scripts again
        ui_extra_networks.initialize()
        run_entry_script()
        run_entry_script()
        script_callbacks.before_ui_callback()
        script_callbacks.before_ui_callback()
        assert len(script_callbacks.callback_map["callbacks_before_ui"]) == 1
        assert [p.title for p in ui_extra_networks.extra_pages] == ["Interactions"]
    assert str(installed_root(webui)) in ui_extra_networks.allowed_dirs


def test_the_page_lists_interactions_without_diffusers(installed, webui):
    code = ("import sys; sys.modules['diffusers'] = None; "
            f"sys.path[:0] = [{str(ROOT / 'extension')!r}, {str(ROOT / 'tests' / 'a1111_standin')!r}]; "
            "from modules import shared, ui_extra_networks; "
            f"shared.cmd_opts.embeddings_dir = {str(webui['data_dir'] / 'embeddings')!r}; "
            "from interinv.ui import entry; entry.before_ui(); "
            "print([item['name'] for item in ui_extra_networks.extra_pages[0].list_items()])")
    listed = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=300)
    assert listed.stdout.strip() == f"[{SLUG!r}]"


# A txt2img prompt and a stand-in of what javascript/extraNetworks.js does on a card click in A1111 v1.10.1:
# cardClicked(tabname, text, negative, allowNegative) adds opts.extra_networks_add_text_separator + text to the
# prompt and calls updateInput (ui.js) so that gradio sees the change.
CARD_PAGE = """<!doctype html><html><body>
<div id="txt2img_prompt"><label><textarea>masterpiece</textarea></label></div>
<div id="cards">{cards}</div>
<script>
var opts = {{extra_networks_add_text_separator: " "}}, inputs = 0;
function gradioApp() {{ return document; }}
function updateInput(target) {{ target.dispatchEvent(new Event("input", {{bubbles: true}})); }}
function cardClicked(tabname, textToAdd, textToAddNegative, allowNegativePrompt) {{
  var area = gradioApp().querySelector("#" + tabname + "_prompt > label > textarea");
  area.value = area.value + opts.extra_networks_add_text_separator + textToAdd;
  updateInput(area);
}}
var area = document.querySelector("#txt2img_prompt textarea");
area.addEventListener("input", function () {{ inputs += 1; }});
document.querySelector("#cards .card").click();
var tags = document.querySelectorAll("#cards i").length;
document.body.setAttribute("data-result", JSON.stringify({{value: area.value, inputs: inputs, tags: tags}}));
</script></body></html>"""


def test_clicking_a_card_adds_the_template_to_the_prompt_in_chromium(installed, tmp_path):
    require_chromium()
    manifest_path = installed / f"{SLUG}.interaction.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["subjects"] = ['man "Jo" <i>', "O'Neil & co\\2"]  # quotes, a tag and a backslash from a stranger
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "index.html").write_text(CARD_PAGE.format(cards=page().create_html("txt2img")))
    result = page_result(dump_dom((tmp_path / "index.html").as_uri(), tmp_path / "profile", timeout=60))
    assert result == {"value": "masterpiece a man \"Jo\" <i> kisshand_p1 kisshand_r a O'Neil & co\\2 kisshand_p2",
                      "inputs": 1, "tags": 0}
