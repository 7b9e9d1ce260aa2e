"""Stand-in of modules/sd_models_xl.py: A1111's patches that make sgm's DiffusionEngine look like an ldm model.

get_learned_conditioning builds the size conditioning from the batch's width/height (1024 when it has none) and the
crop settings, and runs the conditioner, whose frozen embedders run under no_grad: no gradient reaches an embedding
this way. apply_model concatenates c_concat for inpainting models; get_first_stage_encoding is the identity because
sgm's encode_first_stage already scales. GeneralConditioner gains tokenize, encode_embedding_init_text (each text
embedder's rows, concatenated: 768 + 1280 = 2048 wide), process_texts and get_target_prompt_token_count.
"""

import torch

import sgm_tiny
from modules import devices, shared


def get_learned_conditioning(self, batch):
    for embedder in self.conditioner.embedders:
        embedder.ucg_rate = 0.0
    width = getattr(batch, "width", 1024) or 1024
    height = getattr(batch, "height", 1024) or 1024
    is_negative_prompt = getattr(batch, "is_negative_prompt", False)
    aesthetic_score = shared.opts.sdxl_refiner_low_aesthetic_score if is_negative_prompt else shared.opts.sdxl_refiner_high_aesthetic_score
    args = dict(device=devices.device, dtype=devices.dtype_inference)
    conds = {
        "txt": batch,
        "original_size_as_tuple": torch.tensor([height, width], **args).repeat(len(batch), 1),
        "crop_coords_top_left": torch.tensor([shared.opts.sdxl_crop_top, shared.opts.sdxl_crop_left], **args).repeat(len(batch), 1),
        "target_size_as_tuple": torch.tensor([height, width], **args).repeat(len(batch), 1),
        "aesthetic_score": torch.tensor([aesthetic_score], **args).repeat(len(batch), 1),
    }
    force_zero_negative_prompt = is_negative_prompt and all(x == "" for x in batch)
    return self.conditioner(conds, force_zero_embeddings=["txt"] if force_zero_negative_prompt else [])


def apply_model(self, x, t, cond):
    if self.is_sdxl_inpaint:
        x = torch.cat([x] + cond["c_concat"], dim=1)
    return self.model(x, t, cond)


def get_first_stage_encoding(self, x):
    return x


def encode_embedding_init_text(self, init_text, nvpt):
    rows = [e.encode_embedding_init_text(init_text, nvpt) for e in self.embedders if hasattr(e, "encode_embedding_init_text")]
    return torch.cat(rows, dim=1)


def tokenize(self, texts):
    for embedder in [e for e in self.embedders if hasattr(e, "tokenize")]:
        return embedder.tokenize(texts)
    raise AssertionError("no tokenizer available")


def process_texts(self, texts):
    for embedder in [e for e in self.embedders if hasattr(e, "process_texts")]:
        return embedder.process_texts(texts)


def get_target_prompt_token_count(self, token_count):
    for embedder in [e for e in self.embedders if hasattr(e, "get_target_prompt_token_count")]:
        return embedder.get_target_prompt_token_count(token_count)


sgm_tiny.DiffusionEngine.get_learned_conditioning = get_learned_conditioning
sgm_tiny.DiffusionEngine.apply_model = apply_model
sgm_tiny.DiffusionEngine.get_first_stage_encoding = get_first_stage_encoding
sgm_tiny.GeneralConditioner.encode_embedding_init_text = encode_embedding_init_text
sgm_tiny.GeneralConditioner.tokenize = tokenize
sgm_tiny.GeneralConditioner.process_texts = process_texts
sgm_tiny.GeneralConditioner.get_target_prompt_token_count = get_target_prompt_token_count


def extend_sdxl(model):
    """Attributes that make an SDXL model look like SD1.5 to the rest of the WebUI (cond_stage_model: sd_hijack)."""
    model.model.diffusion_model.dtype = next(model.model.diffusion_model.parameters()).dtype
    model.model.conditioning_key = "crossattn"
    model.cond_stage_key = "txt"
    model.parameterization = "v" if isinstance(model.denoiser.scaling, sgm_tiny.VScaling) else "eps"
    model.alphas_cumprod = torch.asarray(model.discretization_alphas_cumprod, device=devices.device, dtype=torch.float32)
    model.conditioner.wrapped = torch.nn.Module()
