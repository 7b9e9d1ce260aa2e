"""A tiny random model with the interface of ldm's LatentDiffusion as A1111 loads it (SD1 or SD2 flags).

ldm parts it mirrors: DiagonalGaussianDistribution (ldm/modules/distributions/distributions.py),
FrozenCLIPEmbedder (.tokenizer, .transformer), DiffusionWrapper + UNetModel (context=), and
LatentDiffusion.encode_first_stage/get_first_stage_encoding/decode_first_stage/apply_model (ldm/models/diffusion/ddpm.py).
"""

from types import SimpleNamespace

import torch

from interinv.testing import tiny_pipeline

LATENT_FACTOR = 8  # A1111 assumes factor 8 (processing.opt_f)
LAYER_NORM_BIAS = 0.1  # spread of the CLIP's final LayerNorm bias; a trained CLIP's is far from zero


class DiagonalGaussianDistribution:
    def __init__(self, parameters):
        self.parameters = parameters
        self.mean, logvar = torch.chunk(parameters, 2, dim=1)
        self.logvar = torch.clamp(logvar, -30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self):
        return self.mean + self.std * torch.randn(self.mean.shape).to(device=self.parameters.device)


class FrozenCLIPEmbedder(torch.nn.Module):
    def __init__(self, tokenizer, transformer):
        super().__init__()
        self.tokenizer = tokenizer
        self.transformer = transformer


class CLIPTextModel(torch.nn.Module):
    """transformers 4.x layout (`.text_model.embeddings.token_embedding`), which A1111 relies on."""

    def __init__(self, text_model):
        super().__init__()
        self.text_model = getattr(text_model, "text_model", text_model)  # transformers 4 nests it; 5 does not

    def forward(self, input_ids=None, output_hidden_states=False):
        return self.text_model(input_ids=input_ids, output_hidden_states=output_hidden_states)


class UNetModel(torch.nn.Module):
    """forward(x, timesteps, context) like ldm's UNetModel; the layers are diffusers' (attn2 has to_q/to_k/heads/scale)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, timesteps=None, context=None):
        return self.unet(x, timesteps, encoder_hidden_states=context).sample


class DiffusionWrapper(torch.nn.Module):
    def __init__(self, diffusion_model):
        super().__init__()
        self.diffusion_model = diffusion_model

    def forward(self, x, t, c_crossattn=None):
        return self.diffusion_model(x, t, context=torch.cat(c_crossattn, 1))


def _train_like_final_norm(text_model) -> None:
    """Give the final LayerNorm a random bias, as a trained CLIP has.

    With the initial bias of zero every output row has mean ~0, so the batch mean can be exactly 0.0, and
    A1111's emphasis step (`z * (original_mean / new_mean)`, also done with all multipliers 1) turns the
    whole conditioning into 0/0 = NaN. Real checkpoints never get there; the random stand-in did.
    """
    with torch.no_grad():
        text_model.final_layer_norm.bias.normal_(0.0, LAYER_NORM_BIAS)


def _autoencoder():
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         latent_channels=4, norm_num_groups=4, layers_per_block=1)


class LatentDiffusion(torch.nn.Module):
    def __init__(self, parameterization="eps", family="sd1", seed=0):
        super().__init__()
        pipe = tiny_pipeline(seed=seed)
        torch.manual_seed(seed)
        text_model = CLIPTextModel(pipe.text_encoder)
        _train_like_final_norm(text_model.text_model)
        self.parameterization = parameterization
        self.model = DiffusionWrapper(UNetModel(pipe.unet))
        self.first_stage_model = _autoencoder()
        self.cond_stage_model = FrozenCLIPEmbedder(pipe.tokenizer, text_model)
        self.register_buffer("scale_factor", torch.tensor(0.18215))
        self.register_buffer("alphas_cumprod", pipe.scheduler.alphas_cumprod.float().clone())
        self.alphas_cumprod_original = self.alphas_cumprod
        self.latent_channels = 4
        self.is_sd1, self.is_sd2, self.is_sdxl, self.is_ssd, self.is_sd3 = family == "sd1", family == "sd2", False, False, False
        self.sd_checkpoint_info = SimpleNamespace(model_name=f"tiny-{family}", shorthash="0123456789", title=f"tiny-{family}.safetensors [0123456789]")
        self.sd_model_hash = "01234567"
        self.cond_stage_key = "txt"
        self.eval()

    @torch.no_grad()
    def encode_first_stage(self, x):
        h = self.first_stage_model.encoder(x)
        return DiagonalGaussianDistribution(self.first_stage_model.quant_conv(h))

    def get_first_stage_encoding(self, encoder_posterior):
        if isinstance(encoder_posterior, DiagonalGaussianDistribution):
            z = encoder_posterior.sample()
        elif isinstance(encoder_posterior, torch.Tensor):
            z = encoder_posterior
        else:
            raise NotImplementedError(f"encoder_posterior of type '{type(encoder_posterior)}' not yet implemented")
        return self.scale_factor * z

    @torch.no_grad()
    def decode_first_stage(self, z):
        return self.first_stage_model.decode(z / self.scale_factor).sample

    def get_learned_conditioning(self, c):
        return self.cond_stage_model(c)

    def apply_model(self, x_noisy, t, cond, return_ids=False):
        if not isinstance(cond, dict):
            cond = {"c_crossattn": [cond] if not isinstance(cond, list) else cond}
        return self.model(x_noisy, t, **cond)
