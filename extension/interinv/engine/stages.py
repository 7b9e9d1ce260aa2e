"""Stage 1 (pose words P1, P2) and stage 2 (relation word R): a setup, a loss over it, and one shared loop.

Each `train_stageN` builds a small setup once (cached latents, every caption, the priors, the probe), then
`optimise` runs Adam on `stageN_loss(setup, generator)`. The step makes no host sync of its own: batches are
drawn on the CPU generator, and the loss terms stay on the device until `LossReadout` reads them back.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from ..config import StageConfig, TrainConfig
from ..core.attention import AttentionProbe, cross_attention_loss, relation_target, select_layers
from ..core.noise import add_noise, sample_timesteps, timestep_weights, training_target
from ..core.prior import VocabStats, load_vocabulary, steering_loss, vocab_stats, word_vectors
from ..core.tokens import PseudoWord, new_word, token_names
from ..data.exemplars import STAGE1_SLOTS, Exemplar, SubjectImage, cached_latents, fill_template, image_sizes
from ..data.masks import probe_mask
from ..errors import InterInvError, TrainingInterrupted
from ..export import PreviewSettings
from ..formats.interaction_file import check_template
from ..hosts.base import Host, ImageSize, Vectors
from ..job import Job
from .resume import Fingerprint, fingerprint, load_state, save_state

Terms = dict[str, torch.Tensor]  # loss term -> 0-d tensor; "loss" is the weighted sum that is minimised
Snapshot = Callable[[Mapping[str, PseudoWord], int], None]  # numbered copies of the words at a saved step
DRAW_RANGE = 2**62  # batch draws are integers below this, reduced modulo each count (bias below 1e-17)


# --- language priors -----------------------------------------------------------------------------
def priors(host: Host, vocabulary: str, *, subwords: str, job: Job) -> dict[str, VocabStats]:
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


# --- the parts of a step ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptionTable:
    """Every caption a stage can draw, built once: item (image or exemplar) -> template -> text."""

    texts: list[list[str]]
    counts: torch.Tensor  # [items] templates of each item

    @classmethod
    def of(cls, texts: list[list[str]]) -> "CaptionTable":
        return cls(texts=texts, counts=torch.tensor([len(row) for row in texts]))


def draw_captions(table: CaptionTable, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """`size` (item, template) pairs drawn uniformly with replacement in one draw, and their captions."""
    draws = torch.randint(DRAW_RANGE, (2, size), generator=generator)
    item = draws[0] % len(table.texts)
    template = draws[1] % table.counts[item]
    texts = [table.texts[i][t] for i, t in zip(item.tolist(), template.tolist())]  # CPU tensors: no device sync
    return item, template, texts


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


def denoising_mse(host: Host, x_t: torch.Tensor, t: torch.Tensor, cond, target: torch.Tensor) -> torch.Tensor:
    """The diffusion loss: MSE between the UNet's prediction and the target, in fp32."""
    return F.mse_loss(host.predict(x_t, t, cond).float(), target.float())


def vectors_of(words: Mapping[str, PseudoWord]) -> Vectors:
    """What the text encoder splices in for each word."""
    return {word.name: word.effective() for word in words.values()}


# --- stage 1 ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage1Setup:
    """What a stage-1 step needs: P1 and P2, the host, and per role its images' latents and captions."""

    host: Host
    words: dict[str, PseudoWord]  # "p1", "p2": trained together
    latents: dict[str, tuple[torch.Tensor, torch.Tensor]]  # role -> posterior (mean, std) of its images
    sizes: dict[str, list[ImageSize]]  # role -> each image's size conditioning
    captions: dict[str, CaptionTable]  # role -> image -> template -> caption
    timestep_weights: torch.Tensor
    per_role: int  # samples of each role in a batch


def stage1_loss(setup: Stage1Setup, generator: torch.Generator) -> Terms:
    """The MSE of one batch: half of it single-subject images captioned with P1, half with P2."""
    x0, captions, sizes = [], [], []
    for role in setup.words:
        index, _template, texts = draw_captions(setup.captions[role], setup.per_role, generator)
        x0.append(sample_latents(*setup.latents[role], index, generator))
        captions += texts
        sizes += [setup.sizes[role][i] for i in index.tolist()]
    x_t, t, target = noisy_batch(setup.host, torch.cat(x0), generator, setup.timestep_weights)
    cond = setup.host.encode_prompts(captions, vectors_of(setup.words), sizes)
    mse = denoising_mse(setup.host, x_t, t, cond, target)
    return {"loss": mse, "mse": mse}


def stage1_setup(host: Host, images: Mapping[str, Sequence[SubjectImage]], cfg: TrainConfig, *, job: Job,
                 cache_dir: Path | None) -> Stage1Setup:
    """P1 and P2 initialised under the verb prior, every caption, and the images' latents (cached on disk)."""
    scfg, names = cfg.stage1, token_names(cfg.name)
    templates = [check_template(t, STAGE1_SLOTS, "stage1.templates") for t in scfg.templates]
    size = (cfg.resolution, cfg.resolution)
    verb_prior = priors(host, cfg.prior.verbs, subwords=cfg.prior.subwords, job=job)
    init = word_init(host, cfg.pose_init, verb_prior)
    words = {role: new_word(names[role], init, cfg.num_vectors, verb_prior if cfg.prior.enabled else None)
             for role in ("p1", "p2")}
    captions = {role: CaptionTable.of([[fill_template(t, o=item.subject, p=names[role]) for t in templates]
                                       for item in images[role]]) for role in words}
    return Stage1Setup(
        host=host, words=words, captions=captions,
        latents={role: cached_latents(host, [i.image for i in images[role]], size, cache_dir) for role in words},
        sizes={role: image_sizes([i.image for i in images[role]], size) for role in words},
        timestep_weights=timestep_weights(len(host.alphas_cumprod), scfg.timesteps, scfg.importance_alpha),
        per_role=max(1, scfg.batch_size // 2))


def train_stage1(host: Host, images: dict[str, Sequence[SubjectImage]], cfg: TrainConfig, *, workdir: Path, job: Job,
                 resume: bool = False, cache_dir: Path | None = None, snapshot: Snapshot | None = None,
                 finished_only: bool = False) -> dict[str, PseudoWord]:
    """Learn P1 and P2 in one loop on single-subject images captioned with subject word + pose token."""
    setup = stage1_setup(host, images, cfg, job=job, cache_dir=cache_dir)
    stage = Stage(
        name="stage1", cfg=cfg.stage1, workdir=workdir, loss=functools.partial(stage1_loss, setup),
        trained=list(setup.words.values()), words=setup.words,
        preview_captions=[setup.captions[role].texts[0][0] for role in setup.words],
        fingerprint=fingerprint(stage1=cfg.to_dict()["stage1"], name=cfg.name, num_vectors=cfg.num_vectors,
                                prior=cfg.prior, pose_init=cfg.pose_init, resolution=cfg.resolution,
                                model=host.model_name, images=_content(images)))
    with host.training():
        optimise(host, stage, job, resume=resume, finished_only=finished_only, snapshot=snapshot,
                 preview=PreviewSettings(steps=cfg.preview_steps, size=cfg.resolution))
    return setup.words


# --- stage 2 ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionSetup:
    """The probe on the selected cross-attention layers, and what L_CA compares for each caption."""

    probe: AttentionProbe
    columns: torch.Tensor  # [exemplar, template, vectors of P1+R+P2]: each caption's key indices, on the device
    vector_counts: list[int]  # vectors of P1, R and P2
    masks: torch.Tensor  # [exemplar, h, w] where the two subjects are, at the probe's size, on the host's device


@dataclass(frozen=True)
class Steering:
    """ReVersion's steering loss on R: prepositions are positives, the subject words negatives."""

    positives: dict[str, torch.Tensor]  # encoder key -> [prepositions, D]
    negatives: dict[str, torch.Tensor]  # encoder key -> [subjects, D]
    drawn: int  # positives drawn per step
    temperature: float


@dataclass(frozen=True)
class Stage2Setup:
    """What a stage-2 step needs: R, the frozen pose words, the exemplars' latents and captions, the extra losses."""

    host: Host
    relation: PseudoWord
    frozen: Vectors  # P1*, P2* as the text encoder sees them, detached
    latents: tuple[torch.Tensor, torch.Tensor]  # posterior (mean, std) of the exemplars
    sizes: list[ImageSize]  # each exemplar's size conditioning
    captions: CaptionTable  # exemplar -> template -> caption
    timestep_weights: torch.Tensor
    batch_size: int
    term_weights: dict[str, float]  # loss term -> its weight in "loss"
    attention: AttentionSetup | None  # None: no L_CA
    steering: Steering | None  # None: no steering loss


def stage2_loss(setup: Stage2Setup, generator: torch.Generator) -> Terms:
    """The terms of one batch of exemplars: MSE, plus L_CA (probed during the UNet pass) and steering when on."""
    index, template, captions = draw_captions(setup.captions, setup.batch_size, generator)
    x0 = sample_latents(*setup.latents, index, generator)
    x_t, t, target = noisy_batch(setup.host, x0, generator, setup.timestep_weights)
    cond = setup.host.encode_prompts(captions, {**setup.frozen, setup.relation.name: setup.relation.effective()},
                                     [setup.sizes[i] for i in index.tolist()])
    terms = {}
    if setup.attention is None:
        terms["mse"] = denoising_mse(setup.host, x_t, t, cond, target)
    else:
        with setup.attention.probe.capture(setup.attention.columns[index, template]):
            terms["mse"] = denoising_mse(setup.host, x_t, t, cond, target)
        terms["ca"] = attention_loss(setup.attention, index)
    if setup.steering is not None:
        terms["steer"] = steering_term(setup.steering, setup.relation, generator)
    return {"loss": sum(setup.term_weights[k] * v for k, v in terms.items()), **terms}


def attention_loss(attention: AttentionSetup, index: torch.Tensor) -> torch.Tensor:
    """L_CA of the probed pass: R's map against the masked union of P1's and P2's maps."""
    p1_map, r_map, p2_map = (chunk.mean(dim=1) for chunk in torch.split(attention.probe.maps(), attention.vector_counts, dim=1))
    return cross_attention_loss(r_map, relation_target(p1_map, p2_map, attention.masks[index]))


def steering_term(steering: Steering, relation: PseudoWord, generator: torch.Generator) -> torch.Tensor:
    """The steering loss of R's mean vector against a random draw of the positives, averaged over encoders."""
    vectors = relation.effective()
    terms = []
    for key, rows in steering.positives.items():
        chosen = torch.randperm(rows.shape[0], generator=generator)[: steering.drawn]
        terms.append(steering_loss(vectors[key].mean(dim=0), rows[chosen], steering.negatives[key], steering.temperature))
    return torch.stack(terms).mean()


def stage2_setup(host: Host, exemplars: Sequence[Exemplar], poses: Mapping[str, PseudoWord], cfg: TrainConfig, *,
                 job: Job, cache_dir: Path | None) -> Stage2Setup:
    """R under the preposition prior, every caption, the exemplars' latents, and the probe and steering when on."""
    scfg, names = cfg.stage2, token_names(cfg.name)
    if not poses and scfg.ca_weight:
        raise InterInvError("The cross-attention loss needs the pose words of stage 1; set stage2.ca_weight to 0.")
    latents = cached_latents(host, [e.image for e in exemplars], (cfg.resolution, cfg.resolution), cache_dir)
    prep_prior = priors(host, cfg.prior.prepositions, subwords=cfg.prior.subwords, job=job)
    relation = new_word(names["r"], _relation_init(host, scfg.r_init, poses, prep_prior), scfg.r_vectors or cfg.num_vectors,
                        prep_prior if cfg.prior.enabled else None)
    pose_names = _pose_names(poses)
    captions = CaptionTable.of([[stage2_caption(e, c, pose_names, relation.name) for c in range(len(e.templates))]
                                for e in exemplars])
    attention = None
    if scfg.ca_weight:
        latent_size = (latents[0].shape[-2], latents[0].shape[-1])
        words = [poses["p1"], relation, poses["p2"]]
        attention = attention_setup(host, exemplars=exemplars, captions=captions, words=words, cfg=cfg,
                                    latent_size=latent_size, job=job)
    return Stage2Setup(
        host=host, relation=relation, latents=latents, captions=captions, batch_size=scfg.batch_size,
        sizes=image_sizes([e.image for e in exemplars], (cfg.resolution, cfg.resolution)),
        frozen={w.name: {k: v.detach() for k, v in w.effective().items()} for w in poses.values()},
        timestep_weights=timestep_weights(len(host.alphas_cumprod), scfg.timesteps, scfg.importance_alpha),
        term_weights={"mse": 1.0, "ca": scfg.ca_weight, "steer": scfg.steer_weight}, attention=attention,
        steering=_steering(host, cfg, exemplars) if scfg.steer_weight else None)


def attention_setup(host: Host, *, exemplars: Sequence[Exemplar], captions: CaptionTable, words: Sequence[PseudoWord],
                    cfg: TrainConfig, latent_size: tuple[int, int], job: Job) -> AttentionSetup:
    """The probe on the layers nearest the probe's side, with every caption's P1, R and P2 columns looked up once."""
    layers = select_layers(host.cross_attention_layers(latent_size), cfg.probe.side or cfg.resolution // cfg.probe.divisor)
    if not layers:
        raise InterInvError("The model has no cross-attention layers to probe; set stage2.ca_weight to 0.")
    job.log(f"cross-attention probe: {len(layers)} layers at {layers[0].size[0]}x{layers[0].size[1]}")
    counts = {w.name: w.num_vectors for w in words}
    width = int(captions.counts.max())
    columns = [[_columns(host, text, counts) for text in row] for row in captions.texts]
    padded = [row + [row[0]] * (width - len(row)) for row in columns]  # never drawn: templates past an exemplar's own
    return AttentionSetup(probe=AttentionProbe(layers), columns=torch.tensor(padded).to(host.device),
                          vector_counts=list(counts.values()),
                          masks=torch.stack([probe_mask(e, layers[0].size[0]) for e in exemplars]).to(host.device))


def train_stage2(host: Host, exemplars: Sequence[Exemplar], poses: dict[str, PseudoWord] | None, cfg: TrainConfig, *,
                 workdir: Path, job: Job, resume: bool = False, cache_dir: Path | None = None,
                 snapshot: Snapshot | None = None, finished_only: bool = False) -> PseudoWord:
    """Learn R on the two-subject exemplars, P1* and P2* frozen, with the preposition prior and λ·L_CA.

    Without pose words (`poses=None`, the relation-only baselines) the captions read "O1 [R] O2".
    """
    poses = poses or {}
    setup = stage2_setup(host, exemplars, poses, cfg, job=job, cache_dir=cache_dir)
    stage = Stage(
        name="stage2", cfg=cfg.stage2, workdir=workdir, loss=functools.partial(stage2_loss, setup),
        trained=[setup.relation], words={**poses, "r": setup.relation},
        preview_captions=[setup.captions.texts[0][0]],
        fingerprint=fingerprint(stage2=cfg.to_dict()["stage2"], name=cfg.name, num_vectors=cfg.num_vectors,
                                prior=cfg.prior, probe=cfg.probe, resolution=cfg.resolution, model=host.model_name,
                                poses=setup.frozen, exemplars=_content(exemplars)))
    with host.training():
        optimise(host, stage, job, resume=resume, finished_only=finished_only, snapshot=snapshot,
                 preview=PreviewSettings(steps=cfg.preview_steps, size=cfg.resolution))
    return setup.relation


def _relation_init(host: Host, mode: str, poses: Mapping[str, PseudoWord], prep_prior: dict[str, VocabStats]):
    if mode == "poses" and poses:
        return {key: (poses["p1"].raw[key].detach() + poses["p2"].raw[key].detach()) / 2 for key in poses["p1"].raw}
    if mode == "prepositions":
        return {key: s.mean for key, s in prep_prior.items()}
    if mode.startswith("word:") and mode[5:].strip():
        return word_init(host, mode[5:].strip(), prep_prior)
    raise InterInvError(
        f"stage2.r_init must be 'poses' (needs stage 1), 'prepositions' or 'word:<a word>', got '{mode}'."
    )


def _steering(host: Host, cfg: TrainConfig, exemplars: Sequence[Exemplar]) -> Steering:
    subjects = sorted({s for e in exemplars for s in e.subjects})
    return Steering(
        positives={k: word_vectors(rows, "single") for k, rows in host.token_rows(load_vocabulary(cfg.prior.prepositions)).items()},
        negatives={k: torch.stack([r.mean(dim=0) for r in rows]) for k, rows in host.token_rows(subjects).items()},
        drawn=cfg.stage2.steer_positives, temperature=cfg.stage2.steer_temperature)


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


# --- the shared loop ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """What the shared loop needs to run, save, show and resume one stage."""

    name: str  # "stage1" or "stage2"
    cfg: StageConfig
    workdir: Path
    fingerprint: Fingerprint
    loss: Callable[[torch.Generator], Terms]  # the terms of one random batch
    trained: list[PseudoWord]  # the words Adam updates
    words: Mapping[str, PseudoWord]  # every word of the captions, by role: what snapshots and previews hold
    preview_captions: list[str]

    @property
    def state_path(self) -> Path:
        return self.workdir / "state" / f"{self.name}.pt"


class LossReadout:
    """The loss terms of every step, kept on the device and read back in one sync when asked.

    A read checks every step since the last one, so a loss that turned non-finite is reported with the step it
    started at, and no state is saved after it (the loop reads before each save).
    """

    def __init__(self, stage: Stage):
        self.stage, self.pending, self.latest = stage, [], {}

    def add(self, step: int, terms: Terms) -> None:
        self.pending.append((step, {key: value.detach() for key, value in terms.items()}))

    def read(self) -> dict[str, float]:
        """The terms of the last step as floats; raises at the first non-finite loss since the last read."""
        if self.pending:
            keys = list(self.pending[0][1])
            rows = torch.stack([torch.stack([terms[k].float() for k in keys]) for _, terms in self.pending]).tolist()
            for (step, _terms), row in zip(self.pending, rows):
                if not math.isfinite(row[keys.index("loss")]):
                    raise InterInvError(
                        f"The {self.stage.name} loss became {row[keys.index('loss')]} at step {step}. Lower the learning "
                        f"rate (now {self.stage.cfg.lr}), use --precision fp32 or bf16, and resume from the last "
                        "saved state.")
            self.pending, self.latest = [], dict(zip(keys, rows[-1]))
        return self.latest


def optimise(host: Host, stage: Stage, job: Job, *, resume: bool, finished_only: bool = False,
             snapshot: Snapshot | None, preview: PreviewSettings) -> None:
    """Adam over the stage's words, with periodic state, snapshots, previews, and interruption.

    With `finished_only`, the stage is only loaded from its finished state, never trained.
    """
    cfg = stage.cfg
    optimizer = torch.optim.Adam([p for word in stage.trained for p in word.parameters()], lr=cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(cfg.seed)
    scaler = torch.amp.GradScaler(host.device.type) if host.grad_scaling else None
    first = _restore(stage, optimizer=optimizer, generator=generator, scaler=scaler, resume=resume) if stage.state_path.is_file() else 0
    if finished_only and first < cfg.steps:
        raise InterInvError(
            f"{stage.name} has not finished in '{stage.workdir.parent}' (no finished state with these settings and "
            f"images). Run 'interinv {stage.name}' (or 'interinv train') with the same options first."
        )

    readout = LossReadout(stage)

    def save(step: int) -> None:
        readout.read()  # never save after a non-finite loss
        save_state(stage.state_path, step=step, vectors={word.name: dict(word.raw) for word in stage.trained},
                   optimizer=optimizer, generator=generator, scaler=scaler, fingerprint=stage.fingerprint)

    job.begin(stage.name, cfg.steps, first)
    for step in range(first + 1, cfg.steps + 1):
        readout.add(step, _optimizer_step(stage, optimizer=optimizer, generator=generator, scaler=scaler, step=step))
        saving = bool(cfg.save_every) and step % cfg.save_every == 0
        if step == first + 1 or saving or step == cfg.steps or (cfg.log_every and step % cfg.log_every == 0):
            readout.read()
        job.update(stage.name, step, readout.latest)
        if saving:
            save(step)
            if snapshot is not None:
                snapshot(stage.words, step)
        if cfg.preview_every and step % cfg.preview_every == 0:
            images = host.generate_batch(stage.preview_captions, seeds=range(len(stage.preview_captions)),
                                         steps=preview.steps, vectors=vectors_of(stage.words),
                                         size=(preview.size, preview.size))
            job.preview(stage.name, step, images, stage.preview_captions)
        if job.stop_requested() and step < cfg.steps:
            save(step)
            raise TrainingInterrupted(
                f"Stopped {stage.name} at step {step} of {cfg.steps}; the state is saved in "
                f"'{stage.state_path}'. Run the same command with --resume to continue.",
                str(stage.state_path),
                step,
            )
    if first < cfg.steps:
        save(cfg.steps)


def _restore(stage: Stage, *, optimizer, generator, scaler, resume: bool) -> int:
    """Continue from a saved state: always when it is finished, else only with `resume`."""
    state = load_state(stage.state_path, stage.fingerprint)
    if state["step"] < stage.cfg.steps and not resume:
        raise InterInvError(
            f"'{stage.state_path}' holds {stage.name} interrupted at step {state['step']} of {stage.cfg.steps}. "
            "Pass --resume to continue it, or --restart to start over."
        )
    with torch.no_grad():
        for word in stage.trained:
            for key, param in word.raw.items():
                param.copy_(state["vectors"][word.name][key])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    return int(state["step"])


def _optimizer_step(stage: Stage, *, optimizer, generator, scaler, step: int) -> Terms:
    """One batch's loss, backward and Adam step; the terms stay on the device."""
    optimizer.zero_grad(set_to_none=True)
    try:
        terms = stage.loss(generator)
        (scaler.scale(terms["loss"]) if scaler is not None else terms["loss"]).backward()
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
    return terms


def _content(items) -> list:
    """What identifies a data set: every file and its size and modification time."""
    if isinstance(items, dict):
        return [(role, _content(values)) for role, values in sorted(items.items())]
    paths = [getattr(item, "image", item) for item in items]
    return [(str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else str(p) for p in paths] + [
        (getattr(i, "subjects", None) or getattr(i, "subject", None), getattr(i, "templates", None)) for i in items
    ]
