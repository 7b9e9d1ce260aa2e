"""Stage 1 (pose words P1, P2) and stage 2 (relation word R) as plain loops over a Host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from ..core.attention import AttentionProbe, cross_attention_loss, relation_target, select_layers
from ..config import StageConfig, TrainConfig
from ..errors import InterInvError, TrainingInterrupted
from ..hosts.base import Host
from ..data.exemplars import STAGE1_SLOTS, Exemplar, SubjectImage, cached_latents, fill_template
from ..formats.interaction_file import check_template
from ..data.masks import probe_mask
from ..job import Job
from ..core.noise import add_noise, sample_timesteps, timestep_weights, training_target
from ..core.prior import VocabStats, load_vocabulary, steering_loss, vocab_stats, word_vectors
from .resume import fingerprint, load_state, save_state
from ..core.tokens import PseudoWord, new_word, token_names

StepFn = Callable[[torch.Generator], dict[str, torch.Tensor]]
Snapshot = Callable[[Mapping[str, PseudoWord], int], None]  # numbered copies of the words at a step


@dataclass
class Stage:
    """What the shared optimisation loop needs to run, save and resume one stage."""

    name: str
    words: list[PseudoWord]  # the trainable words
    cfg: StageConfig
    workdir: Path
    fingerprint: str
    step: StepFn
    snapshot: Callable[[int], None]
    preview: Callable[[int], None]

    @property
    def state_path(self) -> Path:
        return self.workdir / "state" / f"{self.name}.pt"


# --- language priors -----------------------------------------------------------------------------
def priors(host: Host, vocabulary: str, subwords: str, job: Job) -> dict[str, VocabStats]:
    """μ and σ of a vocabulary in each of the host's text encoders."""
    words = load_vocabulary(vocabulary)
    stats = {key: vocab_stats(rows, subwords) for key, rows in host.token_rows(words).items()}
    for key, s in stats.items():
        job.log(f"{vocabulary} prior ({key}): {s.words_used} of {s.words_total} words used (subwords={subwords})")
    return stats


def word_init(host: Host, word: str, fallback: dict[str, VocabStats]) -> dict[str, torch.Tensor]:
    """The mean token row of `word`, or the vocabulary mean when no word is given."""
    if not word:
        return {key: s.mean for key, s in fallback.items()}
    rows = host.token_rows([word])
    return {key: r[0].mean(dim=0) for key, r in rows.items()}


# --- one training step ----------------------------------------------------------------------------
def sample_latents(mean: torch.Tensor, std: torch.Tensor, index: torch.Tensor, generator: torch.Generator):
    """x0 ~ N(mean, std²) from the cached posterior of the chosen images."""
    return mean[index] + std[index] * torch.randn(mean[index].shape, generator=generator)


def noisy_batch(host: Host, x0: torch.Tensor, generator: torch.Generator, weights: torch.Tensor):
    """(x_t, t, target) for a batch of clean latents."""
    t = sample_timesteps(weights, x0.shape[0], generator)
    noise = torch.randn(x0.shape, generator=generator)
    x_t = add_noise(x0, noise, t, host.alphas_cumprod)
    target = training_target(x0, noise, t, host.alphas_cumprod, host.prediction_type)
    return x_t.to(host.device), t, target.to(host.device)


def pick(count: int, size: int, generator: torch.Generator) -> list[int]:
    return torch.randint(count, (size,), generator=generator).tolist()


# --- the shared loop ------------------------------------------------------------------------------
def optimise(host: Host, stage: Stage, job: Job, resume: bool, finished_only: bool = False) -> None:
    """Adam over the stage's words, with periodic state, snapshots, previews, and interruption.

    With `finished_only`, the stage is only loaded from its finished state, never trained.
    """
    params = [p for word in stage.words for p in word.parameters()]
    optimizer = torch.optim.Adam(params, lr=stage.cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(stage.cfg.seed)
    scaler = torch.amp.GradScaler(host.device.type) if host.grad_scaling else None
    first = _restore(stage, optimizer, generator, scaler, resume) if stage.state_path.is_file() else 0
    if finished_only and first < stage.cfg.steps:
        raise InterInvError(
            f"{stage.name} has not finished in '{stage.workdir.parent}' (no finished state with these settings and "
            f"images). Run 'interinv {stage.name}' (or 'interinv train') with the same options first."
        )

    def save(step: int) -> None:
        vectors = {word.name: dict(word.raw) for word in stage.words}
        save_state(stage.state_path, step=step, vectors=vectors, optimizer=optimizer, generator=generator,
                   scaler=scaler, fingerprint=stage.fingerprint)

    job.begin(stage.name, stage.cfg.steps, first)
    for step in range(first + 1, stage.cfg.steps + 1):
        losses = _train_step(stage, optimizer, generator, scaler, step)
        job.update(stage.name, step, losses)
        if stage.cfg.save_every and step % stage.cfg.save_every == 0:
            save(step)
            stage.snapshot(step)
        if stage.cfg.preview_every and step % stage.cfg.preview_every == 0:
            stage.preview(step)
        if job.stop_requested() and step < stage.cfg.steps:
            save(step)
            raise TrainingInterrupted(
                f"Stopped {stage.name} at step {step} of {stage.cfg.steps}; the state is saved in "
                f"'{stage.state_path}'. Run the same command with --resume to continue.",
                str(stage.state_path),
                step,
            )
    if first < stage.cfg.steps:
        save(stage.cfg.steps)


def _restore(stage: Stage, optimizer, generator, scaler, resume: bool) -> int:
    """Continue from a saved state: always when it is finished, else only with `resume`."""
    state = load_state(stage.state_path, stage.fingerprint)
    if state["step"] < stage.cfg.steps and not resume:
        raise InterInvError(
            f"'{stage.state_path}' holds {stage.name} interrupted at step {state['step']} of {stage.cfg.steps}. "
            "Pass --resume to continue it, or --restart to start over."
        )
    with torch.no_grad():
        for word in stage.words:
            for key, param in word.raw.items():
                param.copy_(state["vectors"][word.name][key])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    return int(state["step"])


def _train_step(stage: Stage, optimizer, generator, scaler, step: int) -> dict[str, float]:
    optimizer.zero_grad(set_to_none=True)
    try:
        losses = stage.step(generator)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise InterInvError(
                f"The {stage.name} loss became {loss.item()} at step {step}. Lower the learning rate "
                f"(now {stage.cfg.lr}), use --precision fp32 or bf16, and resume from the last saved state."
            )
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
    except torch.cuda.OutOfMemoryError as exc:
        raise InterInvError(
            f"The GPU ran out of memory in {stage.name} at step {step}. Try a smaller --batch-size (now "
            f"{stage.cfg.batch_size}), a lower --resolution, --precision bf16 or fp16, or close other programs "
            "that use the GPU; then run again with --resume."
        ) from exc
    return {key: float(value.detach()) for key, value in losses.items()}


# --- stage 1 ---------------------------------------------------------------------------------------
def train_stage1(host: Host, images: dict[str, Sequence[SubjectImage]], cfg: TrainConfig, workdir: Path, job: Job, *,
                 resume: bool = False, cache_dir: Path | None = None, snapshot: Snapshot | None = None,
                 finished_only: bool = False) -> dict[str, PseudoWord]:
    """Learn P1 and P2 in one loop on single-subject images captioned with subject word + pose token."""
    scfg, names = cfg.stage1, token_names(cfg.name)
    templates = [check_template(t, STAGE1_SLOTS, "stage1.templates") for t in scfg.templates]
    size = (cfg.resolution, cfg.resolution)
    latents = {role: cached_latents(host, [i.image for i in images[role]], size, cache_dir) for role in ("p1", "p2")}
    verb_prior = priors(host, cfg.prior.verbs, cfg.prior.subwords, job)
    init = word_init(host, cfg.pose_init, verb_prior)
    words = {role: new_word(names[role], init, cfg.num_vectors, verb_prior if cfg.prior.enabled else None)
             for role in ("p1", "p2")}
    weights = timestep_weights(len(host.alphas_cumprod), scfg.timesteps, scfg.importance_alpha)
    half = max(1, scfg.batch_size // 2)

    def step(generator: torch.Generator) -> dict[str, torch.Tensor]:
        x0, prompts = [], []
        for role in ("p1", "p2"):
            index = pick(len(images[role]), half, generator)
            x0.append(sample_latents(*latents[role], torch.tensor(index), generator))
            choices = pick(len(templates), half, generator)
            prompts += [fill_template(templates[c], o=images[role][i].subject, p=words[role].name)
                        for i, c in zip(index, choices)]
        x_t, t, target = noisy_batch(host, torch.cat(x0), generator, weights)
        cond = host.encode_prompts(prompts, {w.name: w.effective() for w in words.values()})
        mse = F.mse_loss(host.predict(x_t, t, cond).float(), target.float())
        return {"loss": mse, "mse": mse}

    def preview(step_no: int) -> None:
        captions = [fill_template(templates[0], o=images[role][0].subject, p=words[role].name) for role in ("p1", "p2")]
        _preview(host, job, "stage1", step_no, captions, {w.name: w.effective() for w in words.values()}, cfg)

    stage = Stage("stage1", list(words.values()), scfg, workdir,
                  fingerprint(stage1=cfg.to_dict()["stage1"], name=cfg.name, num_vectors=cfg.num_vectors,
                              prior=cfg.prior, pose_init=cfg.pose_init, resolution=cfg.resolution,
                              model=host.model_name, images=_content(images)),
                  step, lambda n: snapshot and snapshot(words, n), preview)
    with host.training():
        optimise(host, stage, job, resume, finished_only)
    return words


# --- stage 2 ---------------------------------------------------------------------------------------
def train_stage2(host: Host, exemplars: Sequence[Exemplar], poses: dict[str, PseudoWord] | None, cfg: TrainConfig,
                 workdir: Path, job: Job, *, resume: bool = False, cache_dir: Path | None = None,
                 snapshot: Snapshot | None = None, finished_only: bool = False) -> PseudoWord:
    """Learn R on the two-subject exemplars, P1* and P2* frozen, with the preposition prior and λ·L_CA.

    Without pose words (`poses=None`, the relation-only baselines) the captions read "O1 [R] O2".
    """
    scfg, names = cfg.stage2, token_names(cfg.name)
    if not poses and scfg.ca_weight:
        raise InterInvError("The cross-attention loss needs the pose words of stage 1; set stage2.ca_weight to 0.")
    size = (cfg.resolution, cfg.resolution)
    mean, std = cached_latents(host, [e.image for e in exemplars], size, cache_dir)
    prep_prior = priors(host, cfg.prior.prepositions, cfg.prior.subwords, job)
    relation = new_word(names["r"], _relation_init(host, scfg.r_init, poses, prep_prior), scfg.r_vectors or cfg.num_vectors,
                        prep_prior if cfg.prior.enabled else None)
    poses = poses or {}
    pose_names = _pose_names(poses)
    frozen = {w.name: {k: v.detach() for k, v in w.effective().items()} for w in poses.values()}
    counts = {w.name: w.num_vectors for w in (poses.get("p1"), relation, poses.get("p2")) if w is not None}
    steer = _steering(host, cfg, exemplars) if scfg.steer_weight else None
    weights = timestep_weights(len(host.alphas_cumprod), scfg.timesteps, scfg.importance_alpha)
    latent_size = (mean.shape[-2], mean.shape[-1])
    layers = select_layers(host.cross_attention_layers(latent_size), cfg.probe.side or cfg.resolution // cfg.probe.divisor)
    if scfg.ca_weight and not layers:
        raise InterInvError("The model has no cross-attention layers to probe; set stage2.ca_weight to 0.")
    probe = AttentionProbe(layers)
    if layers:
        job.log(f"cross-attention probe: {len(layers)} layers at {layers[0].size[0]}x{layers[0].size[1]}")
    masks = torch.stack([probe_mask(e, layers[0].size[0] if layers else 1) for e in exemplars])

    def captions(index: list[int], choices: list[int]) -> list[str]:
        return [stage2_caption(exemplars[i], c, pose_names, relation.name) for i, c in zip(index, choices)]

    def step(generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = pick(len(exemplars), scfg.batch_size, generator)
        x0 = sample_latents(mean, std, torch.tensor(index), generator)
        choices = [int(torch.randint(len(exemplars[i].templates), (1,), generator=generator)) for i in index]
        prompts = captions(index, choices)
        x_t, t, target = noisy_batch(host, x0, generator, weights)
        cond = host.encode_prompts(prompts, {**frozen, relation.name: relation.effective()})
        losses = {}
        if scfg.ca_weight:
            columns = torch.tensor([_columns(host, p, counts) for p in prompts])
            with probe.capture(columns):
                losses["mse"] = F.mse_loss(host.predict(x_t, t, cond).float(), target.float())
            p1_map, r_map, p2_map = _split_maps(probe.maps(), counts)
            losses["ca"] = cross_attention_loss(r_map, relation_target(p1_map, p2_map, masks[index].to(r_map.device)))
        else:
            losses["mse"] = F.mse_loss(host.predict(x_t, t, cond).float(), target.float())
        if steer is not None:
            losses["steer"] = steer(relation, generator)
        weights_by_term = {"mse": 1.0, "ca": scfg.ca_weight, "steer": scfg.steer_weight}
        return {"loss": sum(weights_by_term[k] * v for k, v in losses.items()), **losses}

    def preview(step_no: int) -> None:
        caption = stage2_caption(exemplars[0], 0, pose_names, relation.name)
        _preview(host, job, "stage2", step_no, [caption], {**frozen, relation.name: relation.effective()}, cfg)

    stage = Stage("stage2", [relation], scfg, workdir,
                  fingerprint(stage2=cfg.to_dict()["stage2"], name=cfg.name, num_vectors=cfg.num_vectors,
                              prior=cfg.prior, probe=cfg.probe, resolution=cfg.resolution, model=host.model_name,
                              poses=frozen, exemplars=_content(exemplars)),
                  step, lambda n: snapshot and snapshot({**poses, "r": relation}, n), preview)
    with host.training():
        optimise(host, stage, job, resume, finished_only)
    return relation


def _relation_init(host: Host, mode: str, poses: dict[str, PseudoWord] | None, prep_prior: dict[str, VocabStats]):
    if mode == "poses" and poses:
        return {key: (poses["p1"].raw[key].detach() + poses["p2"].raw[key].detach()) / 2 for key in poses["p1"].raw}
    if mode == "prepositions":
        return {key: s.mean for key, s in prep_prior.items()}
    if mode.startswith("word:") and mode[5:].strip():
        return word_init(host, mode[5:].strip(), prep_prior)
    raise InterInvError(
        f"stage2.r_init must be 'poses' (needs stage 1), 'prepositions' or 'word:<a word>', got '{mode}'."
    )


def _steering(host: Host, cfg: TrainConfig, exemplars: Sequence[Exemplar]):
    """ReVersion's steering loss on R: prepositions are positives, the subject words negatives."""
    positives = {k: word_vectors(rows, "single") for k, rows in host.token_rows(load_vocabulary(cfg.prior.prepositions)).items()}
    subjects = sorted({s for e in exemplars for s in e.subjects})
    negatives = {k: torch.stack([r.mean(dim=0) for r in rows]) for k, rows in host.token_rows(subjects).items()}
    scfg = cfg.stage2

    def loss(relation: PseudoWord, generator: torch.Generator) -> torch.Tensor:
        vectors = relation.effective()
        terms = []
        for key, rows in positives.items():
            chosen = torch.randperm(rows.shape[0], generator=generator)[: scfg.steer_positives]
            terms.append(steering_loss(vectors[key].mean(dim=0), rows[chosen], negatives[key], scfg.steer_temperature))
        return torch.stack(terms).mean()
    return loss


def stage2_caption(exemplar: Exemplar, choice: int, pose_names: Mapping[str, str], relation: str) -> str:
    """A stage-2 caption; without pose words ("" names) their slots stay empty ("a cat [R] a dog")."""
    o1, o2 = exemplar.subjects
    return fill_template(exemplar.templates[choice], o1=o1, o2=o2, r=relation, p1=pose_names["p1"], p2=pose_names["p2"])


def _pose_names(poses: Mapping[str, PseudoWord]) -> dict[str, str]:
    return {role: poses[role].name if role in poses else "" for role in ("p1", "p2")}


def _columns(host: Host, prompt: str, counts: dict[str, int]) -> list[int]:
    """Key indices of P1, R and P2 (in that order) in one prompt."""
    positions = host.token_positions(prompt, counts)
    return [p for name, n in counts.items() for p in positions[name][:n]]


def _split_maps(maps: torch.Tensor, counts: dict[str, int]) -> list[torch.Tensor]:
    """Per word, the mean map over its vector columns."""
    return [chunk.mean(dim=1) for chunk in torch.split(maps, list(counts.values()), dim=1)]


def _preview(host: Host, job: Job, stage: str, step: int, captions: list[str], vectors, cfg: TrainConfig) -> None:
    size = (cfg.resolution, cfg.resolution)
    images = [host.generate(c, seed=i, steps=cfg.preview_steps, vectors=vectors, size=size) for i, c in enumerate(captions)]
    job.preview(stage, step, images, captions)


def _content(items) -> list:
    """What identifies a data set: every file and its size and modification time."""
    if isinstance(items, dict):
        return [(role, _content(values)) for role, values in sorted(items.items())]
    paths = [getattr(item, "image", item) for item in items]
    return [(str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else str(p) for p in paths] + [
        (getattr(i, "subjects", None) or getattr(i, "subject", None), getattr(i, "templates", None)) for i in items
    ]
