"""Stand-in of Forge's modules/ui_extra_networks_textual_inversion.py: the Textual Inversion cards page reads a
module-level `embedding_db` of its own, filled at import and by the page's refresh (not the engines' databases)."""

import os

import modules.textual_inversion.textual_inversion
from modules import shared, ui_extra_networks


def fresh_db():
    """What importing the module does once; boot() calls it for every fresh stand-in WebUI."""
    global embedding_db
    embedding_db = modules.textual_inversion.textual_inversion.EmbeddingDatabase()
    embedding_db.add_embedding_dir(shared.cmd_opts.embeddings_dir)
    embedding_db.load_textual_inversion_embeddings(force_reload=True, sync_with_sd_model=False)


embedding_db = None
fresh_db()


class ExtraNetworksPageTextualInversion(ui_extra_networks.ExtraNetworksPage):
    def __init__(self):
        super().__init__("Textual Inversion")
        self.allow_negative_prompt = True

    def refresh(self):
        embedding_db.load_textual_inversion_embeddings(force_reload=True, sync_with_sd_model=False)

    def create_item(self, name, index=None, enable_filter=True):
        embedding = embedding_db.word_embeddings.get(name)
        if embedding is None:
            return None
        path, _ext = os.path.splitext(embedding.filename)
        return {
            "name": name,
            "filename": embedding.filename,
            "preview": self.find_preview(path),
            "description": self.find_description(path),
            "search_terms": [self.search_terms_from_path(embedding.filename)],
            "prompt": ui_extra_networks.quote_js(embedding.name),
            "local_preview": f"{path}.preview.{shared.opts.samples_format}",
            "sort_keys": {"default": index, **self.get_sort_keys(embedding.filename)},
        }

    def list_items(self):
        for index, name in enumerate(list(embedding_db.word_embeddings)):
            item = self.create_item(name, index)
            if item is not None:
                yield item

    def allowed_directories_for_previews(self):
        return list(embedding_db.embedding_dirs)
