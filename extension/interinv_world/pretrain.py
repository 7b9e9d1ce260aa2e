"""`interinv world pretrain`: render the world, then train its VAE, text encoder + UNet, ControlNet and scorers.

Seeded and reproducible up to CPU floating-point order. Every phase is sized in steps, not time;
wall times are logged because they vary with the machine's load.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from interinv.atomic import write_text_atomic
from interinv.compat import diffusers_load_kwargs
from interinv.data.pose import draw_skeleton
from . import grammar, render
from .check import CHECK_FILE, CheckConfig, measure, table
from .design import METRICS_FILE, WorldDesign, design_from_config
from .models import (IMAGE_SIDE, SECOND_SCORER, SECOND_SCORER_SHAPE, SceneClassifier, WorldModels, assemble_pipeline,
                     classifier_loss, new_controlnet, new_text_encoder, new_unet, new_vae, pixels,
                     round_to_stored_precision, save_world)
from .sampling import classify

Log = Callable[[str], None]


@dataclass
class PretrainConfig:
    seed: int = 0
    pair_scenes: int = 12000  # rendered two-subject scenes
    single_scenes: int = 2000  # rendered single-subject pose scenes (world v2: 4000)
    pose_pair_scenes: int = 2000  # two posed figures apart, captioned with both pose words (docs/world.md, Q1; v2: 0)
    named_share: float = 0.8  # share of non-held-out pair scenes whose caption names the interaction
    held_out_share: float | None = 0.4  # share of pair scenes showing a held-out interaction; None: all equally often
    held_out: tuple[str, ...] = grammar.HELD_OUT  # captioned only neutrally; the last is for tuning only
    style: render.Style = render.V2_STYLE  # how the scenes are drawn; world v1: --set style.size=1 --set style.backdrop=
    caption_dropout: float = 0.1  # share of empty captions (for classifier-free guidance)
    summary_dropout: float = 0.0  # share of captions whose end-of-text states are the empty caption's (docs/world.md, P1)
    vae_steps: int = 1500
    vae_batch: int = 32
    vae_lr: float = 2e-3
    vae_kl_weight: float = 1e-6  # on the per-image KL sum; 1e-4 kept the posterior std near 1 and blurred the decoder
    per_channel_latents: bool = False  # standardise each latent channel (built; its effect is not yet measured)
    text_positions: int = 77  # caption length in tokens (the feasibility prototype used 32)
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_steps: int = 3000  # world v2: 2000 (docs/world.md, R1)
    min_snr_gamma: float = 5.0  # Min-SNR loss weighting (Hang et al. 2023); 0 weighs every timestep alike
    unet_batch: int = 64
    unet_lr: float = 1e-3
    warmup: int = 200  # linear warm-up steps of the UNet and ControlNet schedules
    final_lr_ratio: float = 0.1  # cosine decay ends at this share of the peak
    ema_decay: float = 0.999
    controlnet_steps: int = 400
    controlnet_batch: int = 32
    controlnet_lr: float = 1e-3
    scorer_steps: int = 1000
    scorer_batch: int = 64
    scorer_lr: float = 2e-3
    eval_scenes: int = 800  # fresh renders that measure the scorers
    gate_samples: int = 300  # generations of named interactions in the sanity gate
    neutral_samples: int = 300  # generations of neutral captions, for the histogram
    gate_guidance: float = 3.0
    sampling_steps: int = 20
    ti_steps: int = 400  # plain TI of the tuning interaction, to show that inversion can learn here
    ti_samples: int = 64


QUICK = PretrainConfig(pair_scenes=96, single_scenes=32, vae_steps=3, vae_batch=8, unet_steps=3, unet_batch=8,
                       warmup=1, controlnet_steps=2, controlnet_batch=4, scorer_steps=3, scorer_batch=8,
                       eval_scenes=20, gate_samples=8, neutral_samples=8, sampling_steps=2, ti_steps=2,
                       ti_samples=4)


@dataclass
class Renders:
    """A rendered data set, kept in memory as uint8 tensors."""

    images: torch.Tensor  # [N, 3, 64, 64] uint8
    skeletons: torch.Tensor  # [N, 3, 64, 64] uint8, ControlNet openpose maps
    captions: list[str]
    interaction: torch.Tensor  # [N] index into render.INTERACTIONS, -1 for single and pose-pair scenes
    species: torch.Tensor  # [N, S] 0/1 presence of each species


def render_set(pairs: int, singles: int, seed: int, design: WorldDesign, log: Log, pose_pairs: int = 0) -> Renders:
    """Pair scenes (held-out interactions only with neutral captions), single-subject pose scenes, then pose-pair
    scenes (two posed figures apart; their interaction label is -1, as a single scene's)."""
    rng, started, plan, style = random.Random(seed), time.time(), design.plan, design.style
    images, skeletons, captions, labels, species = [], [], [], [], []
    for index in range(pairs + singles + pose_pairs):
        scene_seed = seed * 10_000_000 + index
        if index >= pairs + singles:
            poses = (rng.choice(render.SINGLE_POSES), rng.choice(render.SINGLE_POSES))
            kinds = (rng.choice(render.SPECIES), rng.choice(render.SPECIES))
            scene = render.render_pose_pair(scene_seed, poses, kinds, IMAGE_SIDE, style)
            captions.append(grammar.pose_pair_caption(rng, poses, kinds))
            labels.append(-1)
        elif index < pairs:
            name = plan.draw_interaction(rng)
            pair = (rng.choice(render.SPECIES), rng.choice(render.SPECIES))
            scene = render.render_pair(scene_seed, name, pair, IMAGE_SIDE, style)
            named = name not in plan.held_out and rng.random() < plan.named_share
            captions.append(grammar.pair_caption(rng, name, pair, named))
            labels.append(render.INTERACTIONS.index(name))
        else:
            pose, kind = rng.choice(render.SINGLE_POSES), rng.choice(render.SPECIES)
            scene = render.render_single(scene_seed, pose, kind, IMAGE_SIDE, style)
            captions.append(grammar.single_caption(rng, pose, kind))
            labels.append(-1)
        images.append(pixels(scene.image))
        skeletons.append(pixels(draw_skeleton(scene.people, IMAGE_SIDE, IMAGE_SIDE)))
        species.append(render.presence(scene.species))
    log(f"rendered {pairs} pair, {singles} single and {pose_pairs} pose-pair scenes in {time.time() - started:.0f} s")
    return Renders(torch.stack(images), torch.stack(skeletons), captions, torch.tensor(labels), torch.tensor(species))


def training_renders(cfg: PretrainConfig, log: Log) -> Renders:
    """The scenes a world with these settings trains on (seeded by cfg.seed)."""
    return render_set(cfg.pair_scenes, cfg.single_scenes, cfg.seed, world_design(cfg), log, cfg.pose_pair_scenes)


def _unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float() / 127.5 - 1.0


def lr_lambda(warmup: int, total: int, final_ratio: float) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to `final_ratio` of the peak."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def _loop(params, steps: int, lr: float, schedule, step_fn: Callable[[int], torch.Tensor], name: str, log: Log,
          after_step: Callable[[], None] = lambda: None) -> None:
    """AdamW with gradient clipping over `steps` calls of step_fn (which returns the loss)."""
    params = list(params)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    started, running = time.time(), None
    for step in range(steps):
        loss = step_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        after_step()
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        if (step + 1) % max(1, steps // 10) == 0 or step + 1 == steps:
            log(f"{name}: step {step + 1}/{steps}, loss {running:.4f}, {time.time() - started:.0f} s")


# --- phases ------------------------------------------------------------------------------------------
def train_vae(data: Renders, cfg: PretrainConfig, generator: torch.Generator, device: str, log: Log):
    """L1 + 0.5·MSE + KL on the renders; the scaling factor is set to 1/std of the latent means."""
    vae = new_vae().to(device)

    def step(_: int) -> torch.Tensor:
        x = _unit(_batch(data.images, cfg.vae_batch, generator)).to(device)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.mean + posterior.std * _noise(posterior.mean, generator)).sample
        return F.l1_loss(recon, x) + 0.5 * F.mse_loss(recon, x) + cfg.vae_kl_weight * posterior.kl().mean()

    _loop(vae.parameters(), cfg.vae_steps, cfg.vae_lr, lambda s: 1.0, step, "vae", log)
    vae.eval().requires_grad_(False)
    scale_latents(vae, data.images[:2048], cfg.per_channel_latents)
    log(f"vae: scaling factor {vae.config.scaling_factor:.4f}, PSNR {vae_psnr(vae, data.images[-256:]):.1f} dB")
    return vae


def scale_latents(vae, images: torch.Tensor, per_channel: bool) -> None:
    """Scale the latent means of `images` to unit std: per channel, or with one global scaling_factor."""
    if per_channel:
        standardise_latents(vae, images)
    else:
        vae.register_to_config(scaling_factor=float(1.0 / encode_latents(vae, images[:512]).std()))


@torch.no_grad()
def standardise_latents(vae, images: torch.Tensor) -> None:
    """Fold a per-channel shift and scale into the VAE's 1x1 quant convs, so that the latent means of `images`
    have mean 0 and std 1 in every channel, and set scaling_factor to 1.

    One global factor leaves the channels' stds at 0.13 to 1.63 (measured, docs/world.md): the denoiser's
    noise then erases the weak channels long before the strong ones. The decoder sees exactly the latents
    it saw before.
    """
    means = encode_latents(vae, images)
    shift, scale = means.mean(dim=(0, 2, 3)), means.std(dim=(0, 2, 3))
    channels = len(shift)
    quant, post = vae.quant_conv, vae.post_quant_conv  # moments = quant(h) = [mean, logvar]; decoder(post(z))
    quant.weight[:channels] /= scale.view(-1, 1, 1, 1)
    quant.bias[:channels] = (quant.bias[:channels] - shift) / scale
    quant.bias[channels:] -= 2 * scale.log()
    post.bias += (post.weight[:, :, 0, 0] @ shift)
    post.weight *= scale.view(1, -1, 1, 1)
    vae.register_to_config(scaling_factor=1.0)


def _batch(tensor: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    return tensor[torch.randint(len(tensor), (size,), generator=generator)]


def _noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise drawn on the CPU generator, so that a run is the same sequence on any device."""
    return torch.randn(like.shape, generator=generator).to(like.device, like.dtype)


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Posterior means of every image, unscaled, on the VAE's device.

    The denoiser learns the means: samples would add the posterior's noise to the data it must model.
    """
    return torch.cat([vae.encode(_unit(chunk).to(vae.device)).latent_dist.mean for chunk in images.split(batch)])


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Images after a VAE round trip, as uint8 on the CPU (what generated images look like to a scorer)."""
    out = [((vae.decode(encode_latents(vae, c)).sample.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
           for c in images.split(batch)]
    return torch.cat(out)


def vae_psnr(vae, images: torch.Tensor) -> float:
    error = (reconstruct(vae, images).float() - images.float()).pow(2).mean()
    return float(10 * torch.log10(255.0**2 / error))


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


def end_of_text_positions(tokens: torch.Tensor, end_of_text: int) -> torch.Tensor:
    """[N, positions], true from each caption's first end-of-text token on: under CLIP's causal mask each of these
    positions summarises the whole caption."""
    first_end = (tokens == end_of_text).int().argmax(dim=1, keepdim=True)
    return torch.arange(tokens.shape[1], device=tokens.device)[None] >= first_end


def drop_summaries(hidden: torch.Tensor, tokens: torch.Tensor, empty_hidden: torch.Tensor, rows: torch.Tensor,
                   end_of_text: int) -> torch.Tensor:
    """`hidden` with the end-of-text positions of the chosen `rows` taken from the empty caption's `empty_hidden`:
    without that summary the UNet must read the interaction from the words' own positions, where a new word can
    reach it."""
    summary = end_of_text_positions(tokens, end_of_text) & rows[:, None]
    return torch.where(summary[..., None], empty_hidden.expand_as(hidden), hidden)


def _ema_update(ema_model, model, decay: float) -> Callable[[], None]:
    """EMA with the usual warm-up, min(decay, (1+n)/(10+n)): a short run must not keep the random init."""
    pairs = list(zip(ema_model.parameters(), model.parameters()))
    count = [0]

    def update() -> None:
        count[0] += 1
        rate = min(decay, (1 + count[0]) / (10 + count[0]))
        with torch.no_grad():
            for ema, live in pairs:
                ema.lerp_(live, 1 - rate)
    return update


def _noised(latents: torch.Tensor, alphas: torch.Tensor, generator: torch.Generator):
    t = torch.randint(len(alphas), (latents.shape[0],), generator=generator).to(latents.device)
    noise = _noise(latents, generator)
    a = alphas.to(latents.device)[t].view(-1, 1, 1, 1)
    return a.sqrt() * latents + (1 - a).sqrt() * noise, t, noise


def denoising_loss(pred: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas: torch.Tensor,
                   gamma: float) -> torch.Tensor:
    """ε-prediction MSE, each sample weighted by min(SNR, γ)/SNR: low-noise steps no longer dominate the
    gradient, so the layout that an interaction is decided by is learned sooner."""
    if gamma <= 0:
        return F.mse_loss(pred, noise)
    a = alphas.to(t.device)[t]
    snr = a / (1 - a)
    per_sample = (pred - noise).pow(2).mean(dim=(1, 2, 3))
    return (per_sample * snr.clamp(max=gamma) / snr).mean()


def train_denoiser(vae, data: Renders, scaled: torch.Tensor, cfg: PretrainConfig, generator: torch.Generator,
                   log: Log, on_step: Callable[[int, object], None] | None = None):
    """Text encoder and UNet trained jointly on ε-prediction of the scaled latent means; returns the EMA copies.

    `on_step(step, ema_pipe)` runs after every step's EMA update (a learning curve measured in one run).
    """
    device = scaled.device
    text_encoder, unet = new_text_encoder(cfg.text_positions).to(device), new_unet(cfg.unet_channels).to(device)
    pipe = assemble_pipeline(vae, text_encoder, unet)
    ids = tokenize(pipe.tokenizer, data.captions).to(device)
    empty = tokenize(pipe.tokenizer, [""])[0].to(device)
    alphas = pipe.scheduler.alphas_cumprod.float()
    ema_text, ema_unet = (copy.deepcopy(m).requires_grad_(False).eval() for m in (text_encoder, unet))
    updates = [_ema_update(ema_text, text_encoder, cfg.ema_decay), _ema_update(ema_unet, unet, cfg.ema_decay)]

    def step(_: int) -> torch.Tensor:
        index = torch.randint(len(ids), (cfg.unet_batch,), generator=generator).to(device)
        tokens = ids[index].clone()
        tokens[(torch.rand(len(index), generator=generator) < cfg.caption_dropout).to(device)] = empty
        hidden = text_encoder(tokens)[0]
        if cfg.summary_dropout:
            rows = (torch.rand(len(index), generator=generator) < cfg.summary_dropout).to(device)
            hidden = drop_summaries(hidden, tokens, text_encoder(empty[None])[0], rows, text_encoder.config.eos_token_id)
        x_t, t, noise = _noised(scaled[index], alphas, generator)
        pred = unet(x_t, t, encoder_hidden_states=hidden).sample
        return denoising_loss(pred, noise, t, alphas, cfg.min_snr_gamma)

    ema_pipe, done = assemble_pipeline(vae, ema_text, ema_unet), [0]

    def after_step() -> None:
        for update in updates:
            update()
        done[0] += 1
        if on_step is not None:
            on_step(done[0], ema_pipe)

    params = list(text_encoder.parameters()) + list(unet.parameters())
    _loop(params, cfg.unet_steps, cfg.unet_lr, lr_lambda(cfg.warmup, cfg.unet_steps, cfg.final_lr_ratio), step,
          "text encoder + unet", log, after_step)
    return ema_pipe


def train_controlnet(pipe, data: Renders, scaled: torch.Tensor, cfg: PretrainConfig, generator: torch.Generator,
                     log: Log):
    """An openpose ControlNet on the frozen denoiser: skeleton map + caption -> the scene."""
    device = scaled.device
    controlnet = new_controlnet(pipe.unet).to(device)
    ids = tokenize(pipe.tokenizer, data.captions).to(device)
    alphas = pipe.scheduler.alphas_cumprod.float()

    def step(_: int) -> torch.Tensor:
        index = torch.randint(len(ids), (cfg.controlnet_batch,), generator=generator)
        x_t, t, noise = _noised(scaled[index.to(device)], alphas, generator)
        with torch.no_grad():
            text = pipe.text_encoder(ids[index.to(device)])[0]
        skeletons = data.skeletons[index].to(device).float() / 255
        down, mid = controlnet(x_t, t, encoder_hidden_states=text, controlnet_cond=skeletons, return_dict=False)
        pred = pipe.unet(x_t, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample
        return denoising_loss(pred, noise, t, alphas, cfg.min_snr_gamma)

    _loop(controlnet.parameters(), cfg.controlnet_steps, cfg.controlnet_lr,
          lr_lambda(min(cfg.warmup, cfg.controlnet_steps), cfg.controlnet_steps, cfg.final_lr_ratio), step,
          "controlnet", log)
    return controlnet.eval().requires_grad_(False)


def train_scorer(heads: dict[str, int], images: torch.Tensor, labels: dict[str, torch.Tensor], cfg: PretrainConfig,
                 generator: torch.Generator, device: str, name: str, log: Log, shape: dict | None = None) -> SceneClassifier:
    """A SceneClassifier on uint8 images, with random horizontal flips."""
    model = SceneClassifier(heads, **(shape or {})).to(device).train()

    def step(_: int) -> torch.Tensor:
        index = torch.randint(len(images), (cfg.scorer_batch,), generator=generator)
        x = images[index].to(device).float() / 255
        flip = (torch.rand(len(index), generator=generator) < 0.5).to(device)
        x[flip] = x[flip].flip(-1)
        return classifier_loss(model(x), {k: v[index].to(device) for k, v in labels.items()})

    _loop(model.parameters(), cfg.scorer_steps, cfg.scorer_lr, lr_lambda(1, cfg.scorer_steps, 0.01), step, name, log)
    return model.eval()


def scorer_accuracy(models: WorldModels, data: Renders) -> dict[str, float]:
    """Held-out accuracy: interaction on pair scenes, the exact species set on every scene."""
    verdict = classify(models, data.images)
    pairs = data.interaction >= 0
    accuracy = {"interaction": float((verdict["interaction"][pairs] == data.interaction[pairs]).float().mean()),
                "species_set": float((verdict["species"] == data.species).all(dim=1).float().mean())}
    if models.second_scorer is not None:
        second = classify(models, data.images, models.second_scorer)["interaction"]
        accuracy["interaction_second"] = float((second[pairs] == data.interaction[pairs]).float().mean())
    return accuracy


def world_design(cfg: PretrainConfig) -> WorldDesign:
    """The design of the world that a pretraining run makes."""
    return design_from_config(asdict(cfg), "--set")


def check_config(cfg: PretrainConfig) -> CheckConfig:
    """The settings of `interinv world check` that measure this pretraining run."""
    return CheckConfig(gate_samples=cfg.gate_samples, neutral_samples=cfg.neutral_samples, guidance=cfg.gate_guidance,
                       sampling_steps=cfg.sampling_steps, ti_steps=cfg.ti_steps, ti_samples=cfg.ti_samples,
                       seed=cfg.seed)


def pretrain(out: Path, cfg: PretrainConfig = PretrainConfig(), log: Log = print, reuse: Path | None = None,
             device: str = "cpu") -> dict:
    """Every phase, then the weights, a metrics JSON and the model card in `out`.

    `reuse`: an earlier run's folder (same seed and data settings) whose VAE is kept, and its scorers when it has
    them (a folder holding only `vae/` keeps the VAE and trains every scorer).
    `device`: where the models train; random numbers come from one CPU generator on any device.
    """
    torch.manual_seed(cfg.seed)
    generator, started, timings = torch.Generator().manual_seed(cfg.seed), time.time(), {}

    def phase(name: str, fn):
        began = time.time()
        result = fn()
        timings[name] = round(time.time() - began, 1)
        return result

    design = world_design(cfg)
    data = phase("render", lambda: training_renders(cfg, log))
    vae = phase("vae", lambda: _reused_vae(reuse, data, cfg, device) if reuse else train_vae(data, cfg, generator, device, log))
    scaled = encode_latents(vae, data.images) * vae.config.scaling_factor  # shared by the denoiser and the ControlNet
    pipe = phase("denoiser", lambda: train_denoiser(vae, data, scaled, cfg, generator, log))
    controlnet = phase("controlnet", lambda: train_controlnet(pipe, data, scaled, cfg, generator, log))
    scorers = phase("scorers", lambda: _reused_scorers(reuse, vae, data, cfg, device, log)
                    if reuse and (reuse / "scorers").is_dir() else _train_scorers(vae, data, cfg, generator, device, log))
    models = WorldModels(pipe, controlnet, *scorers, design=design)
    round_to_stored_precision(models)
    fresh = render_set(cfg.eval_scenes, cfg.eval_scenes // 4, cfg.seed + 1, design, log)
    metrics = {"scorers_on_renders": scorer_accuracy(models, fresh)}
    recon = Renders(reconstruct(vae, fresh.images), fresh.skeletons, fresh.captions, fresh.interaction, fresh.species)
    metrics["scorers_on_vae_reconstructions"] = scorer_accuracy(models, recon)
    metrics["vae_psnr_db"] = vae_psnr(vae, fresh.images)
    metrics["check"] = phase("check", lambda: measure(models, check_config(cfg), log))
    metrics["sanity_gate"] = metrics["check"]["gate"]
    metrics["timings_s"] = {**timings, "total": round(time.time() - started, 1)}
    metrics["config"], metrics["device"] = asdict(cfg), _device_name(device)
    out.mkdir(parents=True, exist_ok=True)
    save_world(models, out)
    write_text_atomic(out / METRICS_FILE, json.dumps(metrics, indent=2))
    write_text_atomic(out / CHECK_FILE, json.dumps(metrics["check"], indent=1))
    write_text_atomic(out / "README.md", model_card(metrics))
    log(json.dumps({k: metrics[k] for k in ("scorers_on_renders", "scorers_on_vae_reconstructions", "sanity_gate")}))
    return metrics


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if str(device).startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"


def _reused_vae(folder: Path, data: Renders, cfg: PretrainConfig, device: str):
    """The earlier run's VAE; with per_channel_latents, its latents standardised (a no-op when they already are)."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(folder / "vae", **diffusers_load_kwargs(torch.float32))
    vae = vae.to(device).eval().requires_grad_(False)
    if cfg.per_channel_latents:
        standardise_latents(vae, data.images[:2048])
    return vae


def _reused_scorers(folder: Path, vae, data: Renders, cfg: PretrainConfig, device: str, log: Log):
    """The earlier run's scorers; a second interaction scorer is trained when that run has none."""
    from .models import load_scorer

    scorers = [load_scorer(folder / "scorers" / f"{name}.safetensors").to(device) for name in ("interaction", "species")]
    second = folder / "scorers" / f"{SECOND_SCORER}.safetensors"
    if second.is_file():
        return (*scorers, load_scorer(second).to(device))
    images, interaction, _ = scorer_data(vae, data)
    return (*scorers, _train_second_scorer(images, interaction, cfg, device, log))


def scorer_data(vae, data: Renders) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Renders and their VAE reconstructions, as generated images come through the VAE, with their interaction and
    species labels."""
    images = torch.cat([data.images, reconstruct(vae, data.images)])
    return images, data.interaction.repeat(2), data.species.repeat(2, 1)


def _train_second_scorer(images: torch.Tensor, interaction: torch.Tensor, cfg: PretrainConfig, device: str,
                         log: Log) -> SceneClassifier:
    """An interaction scorer of another architecture, initialised and fed from another seed."""
    torch.manual_seed(cfg.seed + 1000)
    generator = torch.Generator().manual_seed(cfg.seed + 1000)
    pairs = interaction >= 0
    return train_scorer({"interaction": len(render.INTERACTIONS)}, images[pairs], {"interaction": interaction[pairs]},
                        cfg, generator, device, "second interaction scorer", log, SECOND_SCORER_SHAPE)


def train_main_scorers(images: torch.Tensor, interaction: torch.Tensor, species: torch.Tensor, cfg: PretrainConfig,
                       generator: torch.Generator, device: str, log: Log) -> tuple[SceneClassifier, SceneClassifier]:
    """The interaction scorer and the species scorer, on `scorer_data`."""
    pairs = interaction >= 0
    inter = train_scorer({"interaction": len(render.INTERACTIONS)}, images[pairs], {"interaction": interaction[pairs]},
                         cfg, generator, device, "interaction scorer", log)
    kinds = train_scorer({"species": len(render.SPECIES)}, images, {"species": species}, cfg, generator, device,
                         "species scorer", log)
    return inter, kinds


def _train_scorers(vae, data: Renders, cfg: PretrainConfig, generator: torch.Generator, device: str, log: Log):
    """The interaction scorer, the species scorer and a second interaction scorer."""
    images, interaction, species = scorer_data(vae, data)
    main = train_main_scorers(images, interaction, species, cfg, generator, device, log)
    return (*main, _train_second_scorer(images, interaction, cfg, device, log))


def model_card(metrics: dict) -> str:
    cfg, gate = metrics["config"], metrics["sanity_gate"]
    design = design_from_config(cfg)
    summary = cfg.get("summary_dropout", 0.0)  # absent in worlds before P1
    pose_pairs = cfg.get("pose_pair_scenes", 0)  # absent in worlds before Q1
    lines = [
        "# InterInv interaction world: pretrained models",
        "",
        "Made by `interinv world pretrain` (seeded). Everything here is trained from scratch on rendered scenes;",
        "no outside data or weights are used.",
        "",
        "## Contents",
        "- A diffusers `StableDiffusionPipeline` (fp16 safetensors): VAE (factor 4, 4 latent channels), CLIP text",
        "  encoder (width 128, 3 layers, the real CLIP tokenizer, rebuilt offline at load time), UNet",
        f"  ({'/'.join(map(str, cfg['unet_channels']))} channels, cross-attention at 8x8 and 4x4) and a DDIM scheduler.",
        "- `controlnet/`: an openpose ControlNet for the world's skeleton maps.",
        "- `scorers/`: the interaction classifier, the species-presence classifier and a second interaction",
        "  classifier of another seed and architecture, which checks the first (small CNNs).",
        "",
        "## Data",
        f"- {cfg['pair_scenes']} two-subject scenes over {len(render.INTERACTIONS)} interactions and "
        f"{len(render.SPECIES)} species, and {cfg['single_scenes']} single-subject pose scenes, 64 px.",
        *([f"- {pose_pairs} pose-pair scenes: two figures apart, each in a random pose, captioned with both pose words "
           "('a bear kneeling and a robot reaching')."] if pose_pairs else []),
        f"- Held-out interactions (only neutral captions such as 'a bear and a robot'): "
        f"{', '.join(design.plan.held_out)}; {design.plan.tuning} is for tuning only.",
        f"- Render style: {json.dumps(asdict(design.style))} (v1: {json.dumps(asdict(render.V1_STYLE))}).",
        f"- Named interactions carry their verb in {cfg['named_share']:.0%} of captions; {cfg['caption_dropout']:.0%} "
        "of captions are dropped for classifier-free guidance"
        + (f"; {summary:.0%} of captions lose their end-of-text summary in training." if summary else "."),
        "",
        "## Training",
        f"- VAE: {cfg['vae_steps']} steps at batch {cfg['vae_batch']}; PSNR {metrics['vae_psnr_db']:.1f} dB on held-out renders.",
        f"- Text encoder + UNet jointly: {cfg['unet_steps']} steps at batch {cfg['unet_batch']}, AdamW {cfg['unet_lr']},"
        f" warm-up {cfg['warmup']}, cosine to {cfg['final_lr_ratio']}x, EMA {cfg['ema_decay']}, Min-SNR γ "
        f"{cfg['min_snr_gamma']}, on VAE posterior means.",
        f"- ControlNet: {cfg['controlnet_steps']} steps at batch {cfg['controlnet_batch']}.",
        f"- Scorers: {cfg['scorer_steps']} steps at batch {cfg['scorer_batch']} on renders and their VAE reconstructions.",
        f"- Wall time on {metrics['device']}: {json.dumps(metrics['timings_s'])} s.",
        "",
        "## Measured",
        "| scorer | on fresh renders | on VAE reconstructions |",
        "|---|---|---|",
    ]
    for key in metrics["scorers_on_renders"]:
        lines.append(f"| {key} | {metrics['scorers_on_renders'][key]:.1%} | "
                     f"{metrics['scorers_on_vae_reconstructions'][key]:.1%} |")
    lines += [
        "",
        f"Sanity gate: {gate['samples']} generations from captions of named interactions (DDIM {gate['steps']} steps, "
        f"CFG {gate['guidance']}), judged by the interaction scorer: **{gate['interaction_accuracy']:.1%}** correct "
        f"(chance {gate['chance']:.1%}); both species right in {gate['species_set_accuracy']:.1%}.",
        "",
        "| interaction | correct |",
        "|---|---|",
        *[f"| {name} | {rate:.0%} |" for name, rate in gate["per_interaction"].items()],
        "",
    ]
    if "check" in metrics:
        lines += ["## Targets (`interinv world check`)", "", table(metrics["check"])]
    return "\n".join(lines)
