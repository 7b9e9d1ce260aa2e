"""Stand-in of modules/textual_inversion/textual_inversion.py: Embedding and EmbeddingDatabase."""

import os

import torch

from modules import devices, shared


class Embedding:
    def __init__(self, vec, name, step=None):
        self.vec = vec
        self.name = name
        self.step = step
        self.shape = None  # set by whoever creates or loads it, like the real class
        self.vectors = 0
        self.cached_checksum = None
        self.sd_checkpoint = None
        self.sd_checkpoint_name = None
        self.optimizer_state_dict = None
        self.filename = None
        self.hash = None
        self.shorthash = None


class DirWithTextualInversionEmbeddings:
    """Real: only the folder's own mtime counts, so files added in a subfolder need force_reload=True."""

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
    def __init__(self):
        self.ids_lookup = {}
        self.word_embeddings = {}
        self.skipped_embeddings = {}
        self.expected_shape = -1
        self.embedding_dirs = {}
        self.previously_displayed_embeddings = ()
        self.load_errors = {}  # the real one prints these; kept here so tests can see them

    def add_embedding_dir(self, path):
        self.embedding_dirs[path] = DirWithTextualInversionEmbeddings(path)

    def clear_embedding_dirs(self):
        self.embedding_dirs.clear()

    def register_embedding(self, embedding, model):
        return self.register_embedding_by_name(embedding, model, embedding.name)

    def register_embedding_by_name(self, embedding, model, name):
        """Registers `embedding` under `name`; None unregisters the name."""
        ids = model.cond_stage_model.tokenize([name])[0]
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

    def get_expected_shape(self):
        vec = shared.sd_model.cond_stage_model.encode_embedding_init_text(",", 1)
        return vec.shape[1]

    def load_from_file(self, path, filename):
        name, ext = os.path.splitext(filename)
        ext = ext.upper()
        if ext in (".PNG", ".WEBP", ".JXL", ".AVIF"):
            return  # real: `<name>.preview.<ext>` is skipped, other images are read for embedded data (not here)
        if ext in (".PT", ".BIN"):
            data = torch.load(path, map_location="cpu", weights_only=True)  # real: the restricted unpickler
        elif ext == ".SAFETENSORS":
            import safetensors.torch

            data = safetensors.torch.load_file(path, device="cpu")
        else:
            return
        embedding = create_embedding_from_data(data, name, filename=filename, filepath=path)
        if self.expected_shape == -1 or self.expected_shape == embedding.shape:
            self.register_embedding(embedding, shared.sd_model)
        else:
            self.skipped_embeddings[name] = embedding

    def load_from_dir(self, embdir):
        for root, _dirs, fns in os.walk(embdir.path, followlinks=True):
            for fn in fns:
                path = os.path.join(root, fn)
                if not os.path.isfile(path) or os.stat(path).st_size == 0:
                    continue
                try:
                    self.load_from_file(path, fn)
                except Exception as exc:  # real: errors.report(f"Error loading embedding {fn}") and go on
                    self.load_errors[fn] = exc

    def load_textual_inversion_embeddings(self, force_reload=False):
        """Clears and reloads every embedding, unless no embedding folder's mtime changed and not force_reload."""
        if not force_reload and not any(d.has_changed() for d in self.embedding_dirs.values()):
            return
        self.ids_lookup.clear()
        self.word_embeddings.clear()
        self.skipped_embeddings.clear()
        self.load_errors.clear()
        self.expected_shape = self.get_expected_shape()
        for embdir in self.embedding_dirs.values():
            if os.path.isdir(embdir.path):
                self.load_from_dir(embdir)
            embdir.update()

    def find_embedding_at_position(self, tokens, offset):
        token = tokens[offset]
        for ids, embedding in self.ids_lookup.get(token, []):
            if tokens[offset:offset + len(ids)] == ids:
                return embedding, len(ids)
        return None, None


def create_embedding_from_data(data, name, filename="unknown embedding file", filepath=None):
    if "string_to_param" in data:
        params = data["string_to_param"]
        assert len(params) == 1, "embedding file has multiple terms in it"
        emb = next(iter(params.values()))
        if len(emb.shape) == 1:
            emb = emb.unsqueeze(0)
        vec, shape, vectors = emb.detach().to(devices.device, dtype=torch.float32), emb.shape[-1], emb.shape[0]
    elif isinstance(data, dict) and "clip_g" in data and "clip_l" in data:
        vec = {k: v.detach().to(devices.device, dtype=torch.float32) for k, v in data.items()}
        shape = data["clip_g"].shape[-1] + data["clip_l"].shape[-1]
        vectors = data["clip_g"].shape[0]
    elif isinstance(data, dict) and isinstance(next(iter(data.values())), torch.Tensor):
        assert len(data) == 1, "embedding file has multiple terms in it"
        emb = next(iter(data.values()))
        if len(emb.shape) == 1:
            emb = emb.unsqueeze(0)
        vec, shape, vectors = emb.detach().to(devices.device, dtype=torch.float32), emb.shape[-1], emb.shape[0]
    else:
        raise Exception(f"Couldn't identify {filename} as neither textual inversion embedding nor diffuser concept.")
    embedding = Embedding(vec, name)
    embedding.step = data.get("step", None) if isinstance(data, dict) else None
    embedding.sd_checkpoint = data.get("sd_checkpoint", None) if isinstance(data, dict) else None
    embedding.sd_checkpoint_name = data.get("sd_checkpoint_name", None) if isinstance(data, dict) else None
    embedding.vectors = vectors
    embedding.shape = shape
    embedding.filename = filepath
    return embedding
