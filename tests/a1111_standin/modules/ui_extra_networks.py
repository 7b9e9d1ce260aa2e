"""Stand-in of modules/ui_extra_networks.py: the page registry and the ExtraNetworksPage base that pages subclass.

Kept: register_page/initialize, the base's helpers (find_preview, find_description, get_sort_keys,
search_terms_from_path, link_preview, read_user_metadata), create_html filling `items` from list_items and
reading each item's `<stem>.json`, and a card whose onclick is `cardClicked('<tab>', <prompt>, <negative>, <allow>);`
with the item's JS literals inserted unquoted, HTML-escaped, as the real create_item_html builds it.
Left out: the pane, tree and dirs templates (html/*.html), MassFileLister's caching, the metadata editor.
"""

import html
import os
import urllib.parse
from pathlib import Path

from modules import extra_networks, shared

extra_pages = []
allowed_dirs = set()
PREVIEW_EXTENSIONS = ["png", "jpg", "jpeg", "webp", "gif"]
CARD = "<div class='card' data-name='{name}' {sort_keys} onclick=\"{card_clicked}\">{background_image}" \
       "<span class='name'>{name}</span><span class='description'>{description}</span>{search_terms}</div>"


def quote_js(s):
    """A JS string literal, as the real helper writes it."""
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def register_page(page):
    """Extensions call this from an on_before_ui callback."""
    extra_pages.append(page)
    allowed_dirs.clear()
    allowed_dirs.update(d for p in extra_pages for d in p.allowed_directories_for_previews())


def initialize():
    """Startup and every UI reload clear the registry before the before_ui callbacks run."""
    extra_pages.clear()


class ExtraNetworksPage:
    def __init__(self, title):
        self.title = title
        self.name = title.lower()
        self.extra_networks_tabname = self.name.replace(" ", "_")
        self.allow_prompt = True
        self.allow_negative_prompt = False
        self.metadata = {}
        self.items = {}

    def refresh(self):
        pass

    def read_user_metadata(self, item, use_cache=True):
        metadata = extra_networks.get_user_metadata(item.get("filename"))
        if metadata.get("description") is not None:
            item["description"] = metadata["description"]
        item["user_metadata"] = metadata

    def link_preview(self, filename):
        return f"./sd_extra_networks/thumb?filename={urllib.parse.quote(filename.replace(chr(92), '/'))}" \
               f"&mtime={os.path.getmtime(filename)}"

    def search_terms_from_path(self, filename, possible_directories=None):
        path = os.path.abspath(filename)
        for directory in possible_directories or self.allowed_directories_for_previews():
            parent = os.path.dirname(os.path.abspath(directory))
            if path.startswith(parent):
                return os.path.relpath(path, parent)
        return ""

    def create_item_html(self, tabname, item, template=None):
        onclick = item.get("onclick")
        if onclick is None:
            negative = item.get("negative_prompt", "''")
            onclick = html.escape(f"cardClicked('{tabname}', {item['prompt']}, {negative}, "
                                  f"{str(self.allow_negative_prompt).lower()});")
        sort_keys = " ".join(f'data-sort-{k}="{html.escape(str(v))}"' for k, v in item.get("sort_keys", {}).items())
        preview = item.get("preview")
        args = {
            "background_image": f'<img src="{html.escape(preview)}" class="preview" loading="lazy">' if preview else "",
            "card_clicked": onclick,
            "description": html.escape(item.get("description") or ""),
            "name": html.escape(item["name"]),
            "prompt": item.get("prompt"),
            "search_terms": "".join(f"<span class='hidden search_terms'>{t}</span>" for t in item.get("search_terms", [])),
            "sort_keys": sort_keys,
        }
        return template.format(**args) if template else args

    def create_html(self, tabname, *, empty=False):
        self.metadata = {}
        self.items = {item["name"]: item for item in ([] if empty else self.list_items())}
        for item in self.items.values():
            if item.get("metadata"):
                self.metadata[item["name"]] = item["metadata"]
            if "user_metadata" not in item:
                self.read_user_metadata(item)
        return "".join(self.create_item_html(tabname, item, CARD) for item in self.items.values())

    def create_item(self, name, index=None):
        raise NotImplementedError()

    def list_items(self):
        raise NotImplementedError()

    def allowed_directories_for_previews(self):
        return []

    def get_sort_keys(self, path):
        stat = os.stat(path)
        return {"date_created": int(stat.st_mtime), "date_modified": int(stat.st_ctime), "name": Path(path).name.lower(),
                "path": str(Path(path)).lower()}

    def find_preview(self, path):
        extensions = PREVIEW_EXTENSIONS + [e for e in [shared.opts.samples_format] if e not in PREVIEW_EXTENSIONS]
        for ext in extensions:
            for candidate in (f"{path}.{ext}", f"{path}.preview.{ext}"):
                if os.path.isfile(candidate):
                    return self.link_preview(candidate)
        return None

    def find_description(self, path):
        for candidate in (f"{path}.txt", f"{path}.description.txt"):
            if os.path.isfile(candidate):
                with open(candidate, encoding="utf-8", errors="replace") as file:
                    return file.read()
        return None
