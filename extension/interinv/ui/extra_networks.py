"""The "Interactions" Extra Networks page: a card per installed interaction; clicking it adds the whole template.

A card stands for the R file `<slug>_r.safetensors`, so the WebUI's sidecar conventions apply to it:
`<slug>_r.preview.png` is its picture (the export writes one showing the full template) and `<slug>_r.json` its
user metadata, whose description the card shows. The same base class and registry exist in A1111 v1.10 and Forge.
"""

from __future__ import annotations

import html
import json
import os

from modules import ui_extra_networks

from ..hosts import a1111_host as webui
from ..share.exported import SHORTHASH_LENGTH, SharedInteraction
from . import library

PAGE_TITLE = "Interactions"


def template_prompt(interaction: SharedInteraction) -> str:
    """The card's `prompt`: a JS string literal of the template filled with the trained subjects.

    The WebUI puts it as it is into `cardClicked(...)`. JSON is valid JS and escapes quotes, backslashes and newlines;
    `<`, `>` and `&` become \\u escapes too, so that subjects from a stranger's manifest cannot open HTML tags.
    """
    literal = json.dumps(interaction.example_prompt(), ensure_ascii=False)
    return literal.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


class InteractionsPage(ui_extra_networks.ExtraNetworksPage):
    def __init__(self):
        super().__init__(PAGE_TITLE)

    def list_items(self):
        for index, interaction in enumerate(library.installed()):
            yield self.card(interaction, index)

    def create_item(self, name, index=None, enable_filter=True):
        """One card by name (the WebUI's get-single-card route after a metadata edit); None when not installed."""
        return next((self.card(i, index) for i in library.installed() if i.slug == name), None)

    def allowed_directories_for_previews(self):
        return [str(library.installed_root())]

    def card(self, interaction: SharedInteraction, index: int | None) -> dict:
        filename = str(interaction.files["r"])
        path = os.path.splitext(filename)[0]
        sha256 = interaction.manifest.tokens["r"].sha256
        return {
            "name": interaction.slug,
            "filename": filename,
            "shorthash": sha256[:SHORTHASH_LENGTH],
            "preview": self.find_preview(path),
            "description": self.find_description(path) or interaction.manifest.description,
            # the WebUI puts search terms into the page as they are
            "search_terms": [html.escape(t) for t in (self.search_terms_from_path(filename), interaction.example_prompt(),
                                                      sha256)],
            "prompt": template_prompt(interaction),
            "local_preview": f"{path}.preview.{webui.setting('samples_format', 'png')}",
            "sort_keys": {"default": index, **self.get_sort_keys(filename)},
        }


def register() -> None:
    """Add the page once per UI build (the WebUI clears its page list before each build, then runs on_before_ui)."""
    if not any(getattr(page, "title", None) == PAGE_TITLE for page in ui_extra_networks.extra_pages):
        ui_extra_networks.register_page(InteractionsPage())
