"""Stand-in of backend/text_processing/classic_engine.py: ClassicTextProcessingEngine (75-token chunks, embedding
fixes spliced by CLIPEmbeddingForTextualInversion, its own EmbeddingDatabase loaded when it is built) and the
module-level `last_extra_generation_params` that collects "TI" (the embedding names used) for the infotext.

Differences on purpose: no emphasis parsing or multipliers, no BREAK, no comma back-tracking (InterInv's prompts
use none of them). clip_skip, final_layer_norm, return_pooled and text_projection as each engine sets them: with
return_pooled the call returns (z, pooled), pooled from the first chunk, projected unless the key is clip_l.
"""

import math
from collections import namedtuple

import torch

from backend import memory_management
from backend.text_processing.textual_inversion import EmbeddingDatabase

PromptChunkFix = namedtuple("PromptChunkFix", ["offset", "embedding"])
last_extra_generation_params = {}


class PromptChunk:
    def __init__(self):
        self.tokens = []
        self.multipliers = []
        self.fixes = []


class CLIPEmbeddingForTextualInversion(torch.nn.Module):
    def __init__(self, wrapped, embeddings, textual_inversion_key="clip_l"):
        super().__init__()
        self.wrapped = wrapped
        self.embeddings = embeddings
        self.textual_inversion_key = textual_inversion_key
        self.weight = self.wrapped.weight

    def forward(self, input_ids):
        batch_fixes = self.embeddings.fixes
        self.embeddings.fixes = None
        inputs_embeds = self.wrapped(input_ids)
        if batch_fixes is None or len(batch_fixes) == 0 or max(len(x) for x in batch_fixes) == 0:
            return inputs_embeds
        vecs = []
        for fixes, tensor in zip(batch_fixes, inputs_embeds):
            for offset, embedding in fixes:
                emb = embedding.vec[self.textual_inversion_key] if isinstance(embedding.vec, dict) else embedding.vec
                emb = emb.to(inputs_embeds)
                emb_len = min(tensor.shape[0] - offset - 1, emb.shape[0])
                tensor = torch.cat([tensor[0:offset + 1], emb[0:emb_len], tensor[offset + 1 + emb_len:]]).to(dtype=inputs_embeds.dtype)
            vecs.append(tensor)
        return torch.stack(vecs)


class ClassicTextProcessingEngine:
    def __init__(self, text_encoder, tokenizer, chunk_length=75, embedding_dir=None, embedding_key="clip_l",
                 embedding_expected_shape=768, emphasis_name="Original", text_projection=False, minimal_clip_skip=1,
                 clip_skip=1, return_pooled=False, final_layer_norm=True):
        self.embeddings = EmbeddingDatabase(tokenizer, embedding_expected_shape)
        if isinstance(embedding_dir, str):
            self.embeddings.add_embedding_dir(embedding_dir)
            self.embeddings.load_textual_inversion_embeddings()
        self.embedding_key = embedding_key
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.minimal_clip_skip, self.clip_skip = minimal_clip_skip, clip_skip
        self.return_pooled, self.final_layer_norm, self.text_projection = return_pooled, final_layer_norm, text_projection
        self.chunk_length = chunk_length
        self.id_start, self.id_end, self.id_pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        model_embeddings = text_encoder.transformer.text_model.embeddings
        model_embeddings.token_embedding = CLIPEmbeddingForTextualInversion(
            model_embeddings.token_embedding, self.embeddings, textual_inversion_key=embedding_key)

    def empty_chunk(self):
        chunk = PromptChunk()
        chunk.tokens = [self.id_start] + [self.id_end] * (self.chunk_length + 1)
        chunk.multipliers = [1.0] * (self.chunk_length + 2)
        return chunk

    def get_target_prompt_token_count(self, token_count):
        return math.ceil(max(token_count, 1) / self.chunk_length) * self.chunk_length

    def tokenize(self, texts):
        return self.tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"]

    def encode_with_transformers(self, tokens):
        # as Forge does on every call: the two embedding modules become fp32 modules (new tensors the first time,
        # made in whatever autograd mode the caller runs)
        embeddings = self.text_encoder.transformer.text_model.embeddings
        embeddings.position_embedding = embeddings.position_embedding.to(dtype=torch.float32)
        embeddings.token_embedding = embeddings.token_embedding.to(dtype=torch.float32)
        tokens = tokens.to(memory_management.text_encoder_device())
        outputs = self.text_encoder.transformer(tokens, output_hidden_states=True)
        z = outputs.hidden_states[-max(self.clip_skip, self.minimal_clip_skip)]
        if self.final_layer_norm:
            z = self.text_encoder.transformer.text_model.final_layer_norm(z)
        if self.return_pooled:
            pooled = outputs.pooler_output
            if self.text_projection and self.embedding_key != "clip_l":
                pooled = self.text_encoder.transformer.text_projection(pooled)
            z.pooled = pooled
        return z

    def tokenize_line(self, line):
        tokens = self.tokenize([line])[0]
        chunks, chunk, token_count = [], PromptChunk(), 0

        def next_chunk(chunk, is_last=False):
            nonlocal token_count
            token_count += len(chunk.tokens) if is_last else self.chunk_length
            to_add = self.chunk_length - len(chunk.tokens)
            chunk.tokens = [self.id_start] + chunk.tokens + [self.id_end] * (max(to_add, 0) + 1)
            chunk.multipliers = [1.0] + chunk.multipliers + [1.0] * (max(to_add, 0) + 1)
            chunks.append(chunk)
            return PromptChunk()

        position = 0
        while position < len(tokens):
            if len(chunk.tokens) == self.chunk_length:
                chunk = next_chunk(chunk)
            embedding, embedding_length_in_tokens = self.embeddings.find_embedding_at_position(tokens, position)
            if embedding is None:
                chunk.tokens.append(tokens[position])
                chunk.multipliers.append(1.0)
                position += 1
                continue
            emb_len = int(embedding.vectors)
            if len(chunk.tokens) + emb_len > self.chunk_length:
                chunk = next_chunk(chunk)
            chunk.fixes.append(PromptChunkFix(len(chunk.tokens), embedding))
            chunk.tokens += [0] * emb_len
            chunk.multipliers += [1.0] * emb_len
            position += embedding_length_in_tokens
        if chunk.tokens or not chunks:
            next_chunk(chunk, is_last=True)
        return chunks, token_count

    def process_texts(self, texts):
        token_count, batch_chunks = 0, []
        for line in texts:
            chunks, current = self.tokenize_line(line)
            token_count = max(current, token_count)
            batch_chunks.append(chunks)
        return batch_chunks, token_count

    def __call__(self, texts):
        batch_chunks, _ = self.process_texts(texts)
        used_embeddings, zs = {}, []
        for i in range(max(len(x) for x in batch_chunks)):
            batch_chunk = [chunks[i] if i < len(chunks) else self.empty_chunk() for chunks in batch_chunks]
            self.embeddings.fixes = [x.fixes for x in batch_chunk]
            for fixes in self.embeddings.fixes:
                for _position, embedding in fixes:
                    used_embeddings[embedding.name] = embedding
            zs.append(self.process_tokens([x.tokens for x in batch_chunk], [x.multipliers for x in batch_chunk]))
        if used_embeddings:
            names = ", ".join(name.replace(":", "").replace(",", "") for name in used_embeddings)
            if "TI" in last_extra_generation_params:
                last_extra_generation_params["TI"] += ", " + names
            else:
                last_extra_generation_params["TI"] = names
        return (torch.hstack(zs), zs[0].pooled) if self.return_pooled else torch.hstack(zs)

    def process_tokens(self, remade_batch_tokens, batch_multipliers):
        tokens = torch.asarray(remade_batch_tokens)
        if self.id_end != self.id_pad:
            for batch_pos in range(len(remade_batch_tokens)):
                index = remade_batch_tokens[batch_pos].index(self.id_end)
                tokens[batch_pos, index + 1:tokens.shape[1]] = self.id_pad
        return self.encode_with_transformers(tokens)
