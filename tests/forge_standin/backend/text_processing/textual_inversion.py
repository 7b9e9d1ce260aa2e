"""Stand-in of backend/text_processing/textual_inversion.py: Embedding, EmbeddingDatabase(tokenizer, expected_shape)
and create_embedding_from_data, as each text-processing engine holds them.

Kept: the database is filled once, when the engine is built (model load), and again only by
load_textual_inversion_embeddings() (no force_reload argument, no mtime check: it always reloads);
register_embedding takes the embedding alone; a file whose width differs from expected_shape goes to
skipped_embeddings. Left out: embeddings inside images (PNG/WEBP), which InterInv never writes.
"""

import os

import torch


class Embedding:
    def __init__(self, vec, name, step=None):
        self.vec = vec
        self.name = name
        self.step = step
        self.shape = None
        self.vectors = 0
        self.sd_checkpoint = None
        self.sd_checkpoint_name = None


class DirWithTextualInversionEmbeddings:
    def __init__(self, path):
        self.path = path
        self.mtime = None

    def has_changed(self):
        if not os.path.isdir(self.path):
            return False
        return self.mtime is None or os.path.getmtime(self.path) > self.mtime

    def update(self):
        if os.path.isdir(self.path):
            self.mtime = os.path.getmtime(self.path)


class EmbeddingDatabase:
    def __init__(self, tokenizer, expected_shape=-1):
        self.ids_lookup = {}
        self.word_embeddings = {}
        self.embedding_dirs = {}
        self.skipped_embeddings = {}
        self.expected_shape = expected_shape
        self.tokenizer = tokenizer
        self.fixes = []

    def add_embedding_dir(self, path):
        self.embedding_dirs[path] = DirWithTextualInversionEmbeddings(path)

    def clear_embedding_dirs(self):
        self.embedding_dirs.clear()

    def token_ids(self, name):
        return self.tokenizer([name], truncation=False, add_special_tokens=False)["input_ids"][0]

    def register_embedding(self, embedding):
        return self.register_embedding_by_name(embedding, embedding.name)

    def register_embedding_by_name(self, embedding, name):
        ids = self.token_ids(name)
        first_id = ids[0]
        lookup = [entry for entry in self.ids_lookup.get(first_id, []) if entry[1].name != name]
        if embedding is None:
            self.word_embeddings.pop(name, None)
            if lookup:
                self.ids_lookup[first_id] = lookup
            else:
                self.ids_lookup.pop(first_id, None)
            return None
        lookup.append((ids, embedding))
        self.ids_lookup[first_id] = sorted(lookup, key=lambda entry: len(entry[0]), reverse=True)
        self.word_embeddings[name] = embedding
        return embedding

    def accepts(self, embedding):
        return self.expected_shape == -1 or self.expected_shape == embedding.shape

    def load_from_file(self, path, filename):
        name, ext = os.path.splitext(filename)
        ext = ext.upper()
        if ext in (".BIN", ".PT"):
            data = torch.load(path, map_location="cpu", weights_only=True)
        elif ext == ".SAFETENSORS":
            import safetensors.torch

            data = safetensors.torch.load_file(path, device="cpu")
        else:
            return
        embedding = create_embedding_from_data(data, name, filename=filename, filepath=path)
        if self.accepts(embedding):
            self.register_embedding(embedding)
        else:
            self.skipped_embeddings[name] = embedding

    def load_from_dir(self, embdir):
        if not os.path.isdir(embdir.path):
            return
        for root, _, fns in os.walk(embdir.path, followlinks=True):
            for fn in fns:
                path = os.path.join(root, fn)
                try:
                    if os.stat(path).st_size == 0:
                        continue
                    self.load_from_file(path, fn)
                except Exception:
                    print(f"Error loading embedding {fn}")

    def load_textual_inversion_embeddings(self):
        self.ids_lookup.clear()
        self.word_embeddings.clear()
        self.skipped_embeddings.clear()
        for embdir in self.embedding_dirs.values():
            self.load_from_dir(embdir)
            embdir.update()

    def find_embedding_at_position(self, tokens, offset):
        for ids, embedding in self.ids_lookup.get(tokens[offset], []):
            if tokens[offset:offset + len(ids)] == ids:
                return embedding, len(ids)
        return None, None


def create_embedding_from_data(data, name, filename="unknown embedding file", filepath=None):
    if "string_to_param" in data:
        emb = next(iter(data["string_to_param"].values()))
        vec, shape, vectors = emb.detach().to(dtype=torch.float32), emb.shape[-1], emb.shape[0]
    elif isinstance(data, dict) and "clip_g" in data and "clip_l" in data:
        vec = {k: v.detach().to(dtype=torch.float32) for k, v in data.items()}
        shape = data["clip_g"].shape[-1] + data["clip_l"].shape[-1]
        vectors = data["clip_g"].shape[0]
    elif isinstance(data, dict) and isinstance(next(iter(data.values())), torch.Tensor):
        assert len(data) == 1, "embedding file has multiple terms in it"
        emb = next(iter(data.values()))
        emb = emb.unsqueeze(0) if emb.ndim == 1 else emb
        vec, shape, vectors = emb.detach().to(dtype=torch.float32), emb.shape[-1], emb.shape[0]
    else:
        raise Exception(f"Couldn't identify {filename} as neither textual inversion embedding nor diffuser concept.")
    embedding = Embedding(vec, name)
    embedding.step = data.get("step", None)
    embedding.sd_checkpoint = data.get("sd_checkpoint", None)
    embedding.sd_checkpoint_name = data.get("sd_checkpoint_name", None)
    embedding.vectors, embedding.shape = vectors, shape
    if filepath:
        embedding.filename = filepath
    return embedding
