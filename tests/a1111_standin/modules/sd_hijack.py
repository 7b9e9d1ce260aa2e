"""Stand-in of modules/sd_hijack.py, sd_hijack_clip.py and sd_hijack_open_clip.py: the prompt wrappers (SD1's CLIP,
SDXL's CLIP-L and CLIP-G), embedding splicing, optimizations.

Attention "optimizations" map to diffusers attention processors on the stand-in UNet; which one is active
is what `model_hijack.optimization_method` reports, as in the real module.
"""

import collections
import math

import torch

from modules import devices, shared
from modules.textual_inversion.textual_inversion import EmbeddingDatabase

PromptChunkFix = collections.namedtuple("PromptChunkFix", ["offset", "embedding"])


class PromptChunk:
    def __init__(self):
        self.tokens = []
        self.multipliers = []
        self.fixes = []


class EmbeddingsWithFixes(torch.nn.Module):
    """Token embedding layer that writes each fix's vectors after position `offset` (+1 for BOS)."""

    def __init__(self, wrapped, embeddings, textual_inversion_key="clip_l"):
        super().__init__()
        self.wrapped = wrapped
        self.embeddings = embeddings
        self.textual_inversion_key = textual_inversion_key
        self.weight = wrapped.weight

    def forward(self, input_ids):
        batch_fixes = self.embeddings.fixes
        self.embeddings.fixes = None
        inputs_embeds = self.wrapped(input_ids)
        if not batch_fixes or max(len(f) for f in batch_fixes) == 0:
            return inputs_embeds
        rows = []
        for fixes, tensor in zip(batch_fixes, inputs_embeds):
            for offset, embedding in fixes:
                vec = embedding.vec[self.textual_inversion_key] if isinstance(embedding.vec, dict) else embedding.vec
                emb = devices.cond_cast_unet(vec)
                count = min(tensor.shape[0] - offset - 1, emb.shape[0])
                tensor = torch.cat([tensor[: offset + 1], emb[:count], tensor[offset + 1 + count:]]).to(inputs_embeds.dtype)
            rows.append(tensor)
        return torch.stack(rows)


class FrozenCLIPEmbedderWithCustomWordsBase(torch.nn.Module):
    """Chunks prompts into 75-token pieces, records embedding fixes, and encodes each chunk (sd_hijack_clip.py).

    forward returns the [B, 77*k, C] conditioning, and with it the first chunk's pooled output when the wrapped
    embedder returns one (SDXL's CLIP-G). is_trainable and input_key are copied from the wrapped sgm embedder.
    """

    def __init__(self, wrapped, hijack):
        super().__init__()
        self.wrapped = wrapped
        self.hijack = hijack
        self.chunk_length = 75
        self.is_trainable = getattr(wrapped, "is_trainable", False)
        self.input_key = getattr(wrapped, "input_key", "txt")
        self.legacy_ucg_val = None

    def empty_chunk(self):
        chunk = PromptChunk()
        chunk.tokens = [self.id_start] + [self.id_end] * (self.chunk_length + 1)
        chunk.multipliers = [1.0] * (self.chunk_length + 2)
        return chunk

    def get_target_prompt_token_count(self, token_count):
        return math.ceil(max(token_count, 1) / self.chunk_length) * self.chunk_length

    def tokenize_line(self, line):
        """(chunks, token_count); every chunk holds BOS + 75 + EOS, an embedding never straddles chunks."""
        tokens = self.tokenize([line])[0]
        chunks, chunk, token_count = [], PromptChunk(), 0

        def close(chunk, is_last=False):
            nonlocal token_count
            token_count += len(chunk.tokens) if is_last else self.chunk_length
            pad = self.chunk_length - len(chunk.tokens)
            chunk.tokens = [self.id_start] + chunk.tokens + [self.id_end] * (pad + 1)
            chunk.multipliers = [1.0] + chunk.multipliers + [1.0] * (pad + 1)
            chunks.append(chunk)
            return PromptChunk()

        position = 0
        while position < len(tokens):
            if len(chunk.tokens) == self.chunk_length:
                chunk = close(chunk)
            embedding, length = self.hijack.embedding_db.find_embedding_at_position(tokens, position)
            if embedding is None:
                chunk.tokens.append(tokens[position])
                chunk.multipliers.append(1.0)
                position += 1
                continue
            count = int(embedding.vectors)
            if len(chunk.tokens) + count > self.chunk_length:
                chunk = close(chunk)
            chunk.fixes.append(PromptChunkFix(len(chunk.tokens), embedding))
            chunk.tokens += [0] * count
            chunk.multipliers += [1.0] * count
            position += length
        if chunk.tokens or not chunks:
            close(chunk, is_last=True)
        return chunks, token_count

    def process_texts(self, texts):
        batch = [self.tokenize_line(text) for text in texts]
        return [chunks for chunks, _ in batch], max(count for _, count in batch)

    def forward(self, texts):
        batch, _ = self.process_texts(texts)
        zs = []
        for index in range(max(len(chunks) for chunks in batch)):
            chunk_batch = [chunks[index] if index < len(chunks) else self.empty_chunk() for chunks in batch]
            self.hijack.fixes = [c.fixes for c in chunk_batch]
            zs.append(self.process_tokens([c.tokens for c in chunk_batch], [c.multipliers for c in chunk_batch]))
        if getattr(self.wrapped, "return_pooled", False):
            return torch.hstack(zs), zs[0].pooled
        return torch.hstack(zs)

    def process_tokens(self, remade_batch_tokens, batch_multipliers):
        """One chunk through the encoder, pads after the first end token set to id_pad; emphasis restores the mean."""
        tokens = torch.asarray(remade_batch_tokens).to(devices.device)
        if self.id_end != self.id_pad:
            for row, chunk in enumerate(remade_batch_tokens):
                tokens[row, chunk.index(self.id_end) + 1:] = self.id_pad
        z = self.encode_with_transformers(tokens)
        pooled = getattr(z, "pooled", None)
        multipliers = torch.asarray(batch_multipliers).to(z)
        original_mean = z.mean()
        z = z * multipliers.unsqueeze(-1)
        z = z * (original_mean / z.mean())
        if pooled is not None:
            z.pooled = pooled
        return z


class FrozenCLIPEmbedderWithCustomWords(FrozenCLIPEmbedderWithCustomWordsBase):
    def __init__(self, wrapped, hijack):
        super().__init__(wrapped, hijack)
        self.tokenizer = wrapped.tokenizer
        self.id_start = self.tokenizer.bos_token_id
        self.id_end = self.tokenizer.eos_token_id
        self.id_pad = self.id_end
        self.comma_token = self.tokenizer.get_vocab().get(",</w>")

    def tokenize(self, texts):
        return self.tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"]

    def encode_with_transformers(self, tokens):
        return self.wrapped.transformer(input_ids=tokens).last_hidden_state

    def encode_embedding_init_text(self, init_text, nvpt):
        layer = self.wrapped.transformer.text_model.embeddings.token_embedding
        ids = self.tokenizer(init_text, max_length=nvpt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        return layer.wrapped(ids.to(layer.wrapped.weight.device)).squeeze(0)


class FrozenCLIPEmbedderForSDXLWithCustomWords(FrozenCLIPEmbedderWithCustomWords):
    """SDXL's CLIP-L: the hidden state of layer `layer_idx` (11 of 12, the penultimate), without the final norm."""

    def encode_with_transformers(self, tokens):
        outputs = self.wrapped.transformer(input_ids=tokens, output_hidden_states=self.wrapped.layer == "hidden")
        if self.wrapped.layer == "last":
            return outputs.last_hidden_state
        return outputs.hidden_states[self.wrapped.layer_idx]


class FrozenOpenCLIPEmbedder2WithCustomWords(FrozenCLIPEmbedderWithCustomWordsBase):
    """SDXL's CLIP-G (sd_hijack_open_clip.py): open_clip's tokenizer, pads with 0 after the end token, and the pooled
    output rides on the conditioning tensor as `.pooled`."""

    def __init__(self, wrapped, hijack):
        import open_clip.tokenizer

        super().__init__(wrapped, hijack)
        self.open_clip_tokenizer = open_clip.tokenizer._tokenizer
        self.comma_token = self.open_clip_tokenizer.encoder[",</w>"]
        self.id_start = self.open_clip_tokenizer.encoder["<start_of_text>"]
        self.id_end = self.open_clip_tokenizer.encoder["<end_of_text>"]
        self.id_pad = 0

    def tokenize(self, texts):
        return [self.open_clip_tokenizer.encode(text) for text in texts]

    def encode_with_transformers(self, tokens):
        d = self.wrapped.encode_with_transformer(tokens)
        z = d[self.wrapped.layer]
        pooled = d.get("pooled")
        if pooled is not None:
            z.pooled = pooled
        return z

    def encode_embedding_init_text(self, init_text, nvpt):
        ids = torch.asarray([self.open_clip_tokenizer.encode(init_text)], device=devices.device, dtype=torch.int)
        layer = self.wrapped.model.token_embedding.wrapped
        return layer(ids.to(layer.weight.device)).squeeze(0)


def _processor(title):
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    return {"sdp": AttnProcessor2_0, "Doggettx": AttnProcessor, "V1": AttnProcessor}[title]()


# (name, title) by priority; xformers is absent on this host, as on a CPU
optimizers = [("Doggettx", "Doggettx"), ("sdp-no-mem", "sdp-no-mem - scaled dot product without memory efficient attention"),
              ("sdp", "sdp - scaled dot product"), ("V1", "V1 - original v1")]


def undo_optimizations():
    from diffusers.models.attention_processor import AttnProcessor

    if shared.sd_model is not None:
        shared.sd_model.model.diffusion_model.unet.set_attn_processor(AttnProcessor())
    model_hijack.optimization_method = None


def apply_optimizations(option=None):
    """Applies the optimizer whose *title* equals `option` (or the setting); unknown titles fall back to the first."""
    undo_optimizations()
    selection = option or shared.opts.cross_attention_optimization
    if selection == "None":
        return ""
    match = next((o for o in optimizers if o[1] == selection), None) if selection != "Automatic" else None
    name = (match or optimizers[0])[0]
    processor = _processor("sdp" if name.startswith("sdp") else name)
    shared.sd_model.model.diffusion_model.unet.set_attn_processor(processor)
    return name


class StableDiffusionModelHijack:
    def __init__(self):
        self.fixes = None
        self.layers = None
        self.circular_enabled = False
        self.clip = None
        self.optimization_method = None
        self.extra_generation_params = {}
        self.embedding_db = EmbeddingDatabase()

    def apply_optimizations(self, option=None):
        self.optimization_method = apply_optimizations(option)

    def hijack(self, m):
        conditioner = getattr(m, "conditioner", None)
        if conditioner is not None:  # SDXL: wrap each text embedder; one alone (the refiner's) is the cond_stage_model
            texts = []
            for index, embedder in enumerate(conditioner.embedders):
                kind = type(embedder).__name__
                if kind == "FrozenCLIPEmbedder":
                    embeddings = embedder.transformer.text_model.embeddings
                    embeddings.token_embedding = EmbeddingsWithFixes(embeddings.token_embedding, self)
                    conditioner.embedders[index] = FrozenCLIPEmbedderForSDXLWithCustomWords(embedder, self)
                elif kind == "FrozenOpenCLIPEmbedder2":
                    embedder.model.token_embedding = EmbeddingsWithFixes(embedder.model.token_embedding, self,
                                                                         textual_inversion_key="clip_g")
                    conditioner.embedders[index] = FrozenOpenCLIPEmbedder2WithCustomWords(embedder, self)
                else:
                    continue
                texts.append(conditioner.embedders[index])
            m.cond_stage_model = texts[0] if len(texts) == 1 else conditioner
        else:
            wrapped = m.cond_stage_model  # ldm's FrozenCLIPEmbedder: .tokenizer and .transformer
            embeddings = wrapped.transformer.text_model.embeddings
            embeddings.token_embedding = EmbeddingsWithFixes(embeddings.token_embedding, self)
            m.cond_stage_model = FrozenCLIPEmbedderWithCustomWords(wrapped, self)
        self.clip = m.cond_stage_model
        self.apply_optimizations()


model_hijack = StableDiffusionModelHijack()
