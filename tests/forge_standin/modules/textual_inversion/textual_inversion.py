"""Stand-in of Forge's modules/textual_inversion/textual_inversion.py: the EmbeddingDatabase the Extra Networks
page and the API hold, apart from the engines' own.

What differs from the engines' database (backend/text_processing/textual_inversion.py): no tokenizer (every name
registers under the ids [0, 0, 0]), register_embedding(embedding, model), and
load_textual_inversion_embeddings(force_reload=False, sync_with_sd_model=True), which reloads only when
force_reload or an embedding folder's mtime changed, and asks the loaded model for the expected width unless
sync_with_sd_model is False (Forge's callers always pass False: the engine has no cond_stage_model).
"""

from backend.text_processing import textual_inversion as backend_ti
from modules import shared

Embedding = backend_ti.Embedding
create_embedding_from_data = backend_ti.create_embedding_from_data


class EmbeddingDatabase(backend_ti.EmbeddingDatabase):
    def __init__(self):
        super().__init__(tokenizer=None, expected_shape=-1)
        self.previously_displayed_embeddings = ()

    def token_ids(self, name):
        return [0, 0, 0]

    def register_embedding(self, embedding, model=None):
        return self.register_embedding_by_name(embedding, embedding.name)

    def accepts(self, embedding):
        return True  # real: every file is registered; the width is not checked here

    def get_expected_shape(self):
        vec = shared.sd_model.cond_stage_model.encode_embedding_init_text(",", 1)  # AttributeError on Forge's engines
        return vec.shape[1]

    def load_textual_inversion_embeddings(self, force_reload=False, sync_with_sd_model=True):
        if not force_reload and not any(d.has_changed() for d in self.embedding_dirs.values()):
            return
        if sync_with_sd_model:
            self.expected_shape = self.get_expected_shape()
        super().load_textual_inversion_embeddings()
        ordered = {e.name: e for e in sorted(self.word_embeddings.values(), key=lambda e: e.name.lower())}
        self.word_embeddings.clear()
        self.word_embeddings.update(ordered)
