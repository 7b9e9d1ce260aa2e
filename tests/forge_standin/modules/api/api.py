"""Stand-in of Forge's modules/api/api.py: the Api object (made by webui.create_api when --api is given) with its
own EmbeddingDatabase and the two embedding routes, registered on the app as bound methods."""

import modules.textual_inversion.textual_inversion
from modules import shared


class Api:
    def __init__(self, app, queue_lock):
        self.app = app
        self.queue_lock = queue_lock
        self.embedding_db = modules.textual_inversion.textual_inversion.EmbeddingDatabase()
        self.embedding_db.add_embedding_dir(shared.cmd_opts.embeddings_dir)
        self.embedding_db.load_textual_inversion_embeddings(force_reload=True, sync_with_sd_model=False)
        self.add_api_route("/sdapi/v1/embeddings", self.get_embeddings, methods=["GET"])
        self.add_api_route("/sdapi/v1/refresh-embeddings", self.refresh_embeddings, methods=["POST"])

    def add_api_route(self, path, endpoint, **kwargs):
        return self.app.add_api_route(path, endpoint, **kwargs)

    def get_embeddings(self):
        def convert(embeddings):
            return {e.name: {"step": e.step, "shape": e.shape, "vectors": e.vectors} for e in embeddings.values()}

        return {"loaded": convert(self.embedding_db.word_embeddings), "skipped": convert(self.embedding_db.skipped_embeddings)}

    def refresh_embeddings(self):
        with self.queue_lock:
            self.embedding_db.load_textual_inversion_embeddings(force_reload=True, sync_with_sd_model=False)
