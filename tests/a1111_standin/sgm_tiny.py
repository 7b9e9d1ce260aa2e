"""A tiny random model with the interface of sgm's DiffusionEngine as A1111 v1.10.1 loads SDXL (base, refiner, inpaint).

sgm parts it mirrors (Stability-AI/generative-models at 45c443b, the commit A1111 v1.10.1's launch_utils pins;
configs/inference/sd_xl_base.yaml and sd_xl_refiner.yaml for the embedder lists):
- sgm/modules/encoders/modules.py: GeneralConditioner (`embedders`, OUTPUT_DIM2KEYS, KEY2CATDIM, frozen embedders run
  under no_grad, `force_zero_embeddings`), FrozenCLIPEmbedder (.tokenizer, .transformer, layer "hidden", layer_idx,
  return_pooled), FrozenOpenCLIPEmbedder2 (.model.token_embedding, layer "penultimate", always_return_pooled, legacy=False:
  `encode_with_transformer` returns {"penultimate", "last", "pooled"}), ConcatTimestepEmbedderND (outdim, .timestep);
  each embedder's is_trainable, ucg_rate, input_key and legacy_ucg_val as GeneralConditioner sets them.
- sgm/modules/diffusionmodules/wrappers.py OpenAIWrapper(x, t, c) -> diffusion_model(x, timesteps=, context=c["crossattn"],
  y=c["vector"]); openaimodel.UNetModel.forward(x, timesteps, context, y) and its in_channels.
- sgm/models/diffusion.py DiffusionEngine: conditioner, model, denoiser.scaling, first_stage_model, scale_factor,
  encode_first_stage (no_grad; the VAE is AutoencoderKLInferenceWrapper, whose encode *samples* the posterior) and
  decode_first_stage.
A1111's patches of these classes (modules/sd_models_xl.py) are in modules/sd_models_xl.py here; its load-time flags
(sd_models.py set_model_type, is_sdxl_inpaint) are set in `load`.

The weights are interinv.testing.tiny_sdxl_pipeline's, so the stand-in computes what that diffusers pipeline computes.
The UNet's add_time_proj moves into the three ConcatTimestepEmbedderND (in sgm the size embedding is part of the
conditioner and the UNet receives the finished `vector`), and the UNet is left an identity in its place. Differences
on purpose: the CLIP-G encoder is a transformers CLIPTextModelWithProjection, and its open_clip `.model` exposes only
`token_embedding` (what A1111's hijack and encode_embedding_init_text use); the VAE is ldm_tiny's factor-8 one; the
refiner variant has the refiner's conditioner over the base UNet, so it serves the refusal only.
"""

import contextlib
from types import SimpleNamespace

import torch
from ldm_tiny import CLIPTextModel, DiagonalGaussianDistribution, _autoencoder

from interinv.testing import SDXL_TIME_EMBED, SDXL_TINY_WIDTHS, tiny_sdxl_pipeline

SCALE_FACTOR = 0.13025  # sd_xl_base.yaml
SIZE_KEYS = ("original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple")
REFINER_SIZE_KEYS = ("original_size_as_tuple", "crop_coords_top_left", "aesthetic_score")
INPAINT_CHANNELS = 9  # latents, mask, masked-image latents


class AbstractEmbModel(torch.nn.Module):
    """sgm's embedder base: GeneralConditioner sets is_trainable, ucg_rate, input_key and legacy_ucg_val."""

    def __init__(self):
        super().__init__()
        self.is_trainable = False
        self.ucg_rate = 0.0
        self.input_key = None
        self.legacy_ucg_val = None


class FrozenCLIPEmbedder(AbstractEmbModel):
    LAYERS = ["last", "pooled", "hidden"]

    def __init__(self, tokenizer, transformer, max_length=77, layer="last", layer_idx=None, always_return_pooled=False):
        super().__init__()
        self.tokenizer = tokenizer
        self.transformer = transformer
        self.max_length = max_length
        self.layer = layer
        self.layer_idx = layer_idx
        self.return_pooled = always_return_pooled


class OpenCLIPTextModel:
    """open_clip's CLIP as FrozenOpenCLIPEmbedder2.model, over a transformers encoder: only token_embedding, which
    A1111's hijack replaces (EmbeddingsWithFixes) and its encode_embedding_init_text reads."""

    def __init__(self, transformer):
        self._transformer = transformer

    @property
    def token_embedding(self):
        return self._transformer.get_input_embeddings()

    @token_embedding.setter
    def token_embedding(self, module):
        self._transformer.set_input_embeddings(module)


class FrozenOpenCLIPEmbedder2(AbstractEmbModel):
    LAYERS = ["pooled", "last", "penultimate"]

    def __init__(self, transformer, max_length=77, layer="last", always_return_pooled=False, legacy=True):
        super().__init__()
        self.transformer = transformer  # registered here so its weights are the model's; open_clip's surface is .model
        self.model = OpenCLIPTextModel(transformer)
        self.max_length = max_length
        self.return_pooled = always_return_pooled
        self.layer = layer
        self.layer_idx = {"last": 0, "penultimate": 1}[layer]
        self.legacy = legacy

    def encode_with_transformer(self, text):
        """Non-legacy: {"penultimate", "last"} hidden states and "pooled", the projected end-of-text feature."""
        out = self.transformer(input_ids=text, output_hidden_states=True)
        return {"penultimate": out.hidden_states[-2], "last": out.hidden_states[-1], "pooled": out.text_embeds}


class ConcatTimestepEmbedderND(AbstractEmbModel):
    """Embeds each column of x [B, d] with a sinusoidal timestep embedding of outdim and concatenates: [B, d*outdim]."""

    def __init__(self, outdim):
        from diffusers.models.embeddings import Timesteps

        super().__init__()
        self.timestep = Timesteps(outdim, flip_sin_to_cos=True, downscale_freq_shift=0)  # the UNet's add_time_proj
        self.outdim = outdim

    def forward(self, x):
        if x.ndim == 1:
            x = x[:, None]
        b, dims = x.shape
        return self.timestep(x.reshape(b * dims)).reshape(b, dims * self.outdim)


class GeneralConditioner(torch.nn.Module):
    OUTPUT_DIM2KEYS = {2: "vector", 3: "crossattn", 4: "concat", 5: "concat"}
    KEY2CATDIM = {"vector": 1, "crossattn": 2, "concat": 1}

    def __init__(self, embedders, input_keys):
        super().__init__()
        for embedder, key in zip(embedders, input_keys, strict=True):
            embedder.input_key = key
            embedder.requires_grad_(False)
            embedder.eval()
        self.embedders = torch.nn.ModuleList(embedders)

    def forward(self, batch, force_zero_embeddings=None):
        force_zero_embeddings = force_zero_embeddings or []
        output = {}
        for embedder in self.embedders:
            context = contextlib.nullcontext if embedder.is_trainable else torch.no_grad
            with context():
                emb_out = embedder(batch[embedder.input_key])
            for emb in emb_out if isinstance(emb_out, (list, tuple)) else [emb_out]:
                key = self.OUTPUT_DIM2KEYS[emb.dim()]
                if embedder.ucg_rate > 0.0:
                    emb = torch.bernoulli((1.0 - embedder.ucg_rate) * torch.ones(emb.shape[0], device=emb.device)).view(
                        -1, *([1] * (emb.dim() - 1))) * emb
                if embedder.input_key in force_zero_embeddings:
                    emb = torch.zeros_like(emb)
                output[key] = torch.cat((output[key], emb), self.KEY2CATDIM[key]) if key in output else emb
        return output


class UNetModel(torch.nn.Module):
    """forward(x, timesteps, context, y) like sgm's UNetModel; the layers are diffusers' (attn2 has to_q/to_k/heads/scale).

    y is the finished `vector` ([pooled CLIP-G | the size embeddings]); the diffusers UNet's add_time_proj is an
    identity here, so the time part of y goes into its add_embedding as it is.
    """

    def __init__(self, unet, pooled_width):
        super().__init__()
        unet.add_time_proj = torch.nn.Identity()
        self.unet = unet
        self.pooled_width = pooled_width
        self.in_channels = unet.conv_in.in_channels  # what A1111 reads off input_blocks.0.0.weight
        self.num_classes = "sequential"

    def forward(self, x, timesteps=None, context=None, y=None, **kwargs):
        assert y is not None, "must specify y if and only if the model is class-conditional"
        added = {"text_embeds": y[:, : self.pooled_width], "time_ids": y[:, self.pooled_width:]}
        return self.unet(x, timesteps, encoder_hidden_states=context, added_cond_kwargs=added).sample


class OpenAIWrapper(torch.nn.Module):
    def __init__(self, diffusion_model):
        super().__init__()
        self.diffusion_model = diffusion_model

    def forward(self, x, t, c, **kwargs):
        x = torch.cat((x, c.get("concat", torch.Tensor([]).type_as(x))), dim=1)
        return self.diffusion_model(x, timesteps=t, context=c.get("crossattn", None), y=c.get("vector", None), **kwargs)


class AutoencoderKLInferenceWrapper(torch.nn.Module):
    """sgm's inference VAE: encode returns a sample of the posterior (ldm_tiny's factor-8 diffusers VAE inside)."""

    def __init__(self, vae):
        super().__init__()
        self.encoder, self.quant_conv = vae.encoder, vae.quant_conv
        self.decoder, self.post_quant_conv = vae.decoder, vae.post_quant_conv

    def encode(self, x):
        return DiagonalGaussianDistribution(self.quant_conv(self.encoder(x))).sample()

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


class EpsScaling:
    pass


class VScaling:
    pass


class DiffusionEngine(torch.nn.Module):
    def __init__(self, conditioner, unet, pooled_width, vae, alphas_cumprod, parameterization="eps"):
        super().__init__()
        self.conditioner = conditioner
        self.model = OpenAIWrapper(UNetModel(unet, pooled_width))
        self.denoiser = SimpleNamespace(scaling=VScaling() if parameterization == "v" else EpsScaling())
        self.first_stage_model = AutoencoderKLInferenceWrapper(vae)
        self.scale_factor = SCALE_FACTOR
        self.discretization_alphas_cumprod = alphas_cumprod  # LegacyDDPMDiscretization's: the scaled-linear schedule

    @torch.no_grad()
    def decode_first_stage(self, z):
        return self.first_stage_model.decode(1.0 / self.scale_factor * z)

    @torch.no_grad()
    def encode_first_stage(self, x):
        return self.scale_factor * self.first_stage_model.encode(x)


def _text_embedders(pipe, refiner: bool):
    clip_l = FrozenCLIPEmbedder(pipe.tokenizer, CLIPTextModel(pipe.text_encoder), layer="hidden",
                                layer_idx=pipe.text_encoder.config.num_hidden_layers - 1)  # 11 of 12: the penultimate
    clip_g = FrozenOpenCLIPEmbedder2(pipe.text_encoder_2, layer="penultimate", always_return_pooled=True, legacy=False)
    return [clip_g] if refiner else [clip_l, clip_g]


def load(variant="base", parameterization="eps", seed=0):
    """The tiny SDXL checkpoint as A1111 v1.10.1 has it after loading, before sd_hijack: "base", "refiner" or "inpaint"."""
    from modules import sd_models_xl

    pipe = tiny_sdxl_pipeline(seed=seed)
    torch.manual_seed(seed)
    if variant == "inpaint":
        conv = pipe.unet.conv_in
        pipe.unet.conv_in = torch.nn.Conv2d(INPAINT_CHANNELS, conv.out_channels, conv.kernel_size, padding=conv.padding)
    texts = _text_embedders(pipe, refiner=variant == "refiner")
    sizes = [ConcatTimestepEmbedderND(SDXL_TIME_EMBED) for _ in SIZE_KEYS]
    keys = ["txt"] * len(texts) + list(REFINER_SIZE_KEYS if variant == "refiner" else SIZE_KEYS)
    model = DiffusionEngine(GeneralConditioner(texts + sizes, keys), pipe.unet, SDXL_TINY_WIDTHS["clip_g"], _autoencoder(),
                            pipe.scheduler.alphas_cumprod.float().clone(), parameterization)
    model.is_sd1 = model.is_sd2 = model.is_ssd = model.is_sd3 = False
    model.is_sdxl = True  # sd_models.set_model_type: any model with a conditioner, the refiner too
    model.latent_channels = 4
    sd_models_xl.extend_sdxl(model)
    model.alphas_cumprod_original = model.alphas_cumprod
    model.is_sdxl_inpaint = model.model.diffusion_model.in_channels == INPAINT_CHANNELS
    name = f"tiny-sdxl-{variant}"
    model.sd_checkpoint_info = SimpleNamespace(model_name=name, shorthash="89abcdef01", title=f"{name}.safetensors [89abcdef01]")
    model.sd_model_hash = "89abcdef"
    model.eval()
    return model
