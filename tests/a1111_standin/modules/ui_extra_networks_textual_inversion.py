"""Stand-in of modules/ui_extra_networks_textual_inversion.py: the built-in Textual Inversion cards page.

Kept: a card for every name in `embedding_db.word_embeddings`, built from `embedding.filename` (its stem gives the
preview and description paths, its folder the search terms and sort keys) as the real page builds it, so an
Embedding registered without a filename breaks the page with the real TypeError.
"""

import os

from modules import sd_hijack, shared, ui_extra_networks


class ExtraNetworksPageTextualInversion(ui_extra_networks.ExtraNetworksPage):
    def __init__(self):
        super().__init__("Textual Inversion")
        self.allow_negative_prompt = True

    def refresh(self):
        sd_hijack.model_hijack.embedding_db.load_textual_inversion_embeddings(force_reload=True)

    def create_item(self, name, index=None, enable_filter=True):
        embedding = sd_hijack.model_hijack.embedding_db.word_embeddings.get(name)
        if embedding is None:
            return None
        path, _ext = os.path.splitext(embedding.filename)
        search_terms = [self.search_terms_from_path(embedding.filename)]
        if embedding.hash:
            search_terms.append(embedding.hash)
        return {
            "name": name,
            "filename": embedding.filename,
            "shorthash": embedding.shorthash,
            "preview": self.find_preview(path),
            "description": self.find_description(path),
            "search_terms": search_terms,
            "prompt": ui_extra_networks.quote_js(embedding.name),
            "local_preview": f"{path}.preview.{shared.opts.samples_format}",
            "sort_keys": {"default": index, **self.get_sort_keys(embedding.filename)},
        }

    def list_items(self):
        names = list(sd_hijack.model_hijack.embedding_db.word_embeddings)  # a copy: training may register meanwhile
        for index, name in enumerate(names):
            item = self.create_item(name, index)
            if item is not None:
                yield item

    def allowed_directories_for_previews(self):
        return list(sd_hijack.model_hijack.embedding_db.embedding_dirs)
