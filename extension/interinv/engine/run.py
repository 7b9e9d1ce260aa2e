"""The one orchestrator of a training run: prepare, stage 1, stage 2 and export, for every shell.

The CLI's `train`, the WebUI's Train button, the HTTP API and the world's benchmark all call `run`.
It resolves the name, locks the output folder, checks every input before the first step, restarts or
resumes, and runs the phases asked for.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ..config import TrainConfig
from ..core.tokens import PseudoWord, check_slug, token_names
from ..data.exemplars import (STAGE1_SLOTS, Exemplar, Interaction, SubjectImage, fill_template, load_image,
                              load_interaction, load_subject_images)
from ..formats.interaction_file import STAGE1_FILE, STAGE1_FOLDER, check_template
from ..data.prepare import PrepareOptions, Prepared, default_out, prepare, with_prepared
from ..errors import InterInvError
from ..export import ExportInfo, PreviewSettings, export_interaction, write_snapshot
from ..hosts.base import Host
from ..job import Job
from .lock import output_lock
from .stages import stage2_caption, train_stage1, train_stage2

PHASES = ("prepare", "stage1", "stage2", "export")
PREPARE_WHEN = ("missing", "always")  # prepare only when no stage-1 images exist, or every run (it redoes only changes)


@dataclass(frozen=True)
class TrainRequest:
    """What to train, from where, into where."""

    exemplars: Path  # the interaction folder
    out: Path  # embeddings, manifest and previews are written here; the run locks it
    config: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None  # the slug; None = the name in interaction.json, else config.name
    stage1_images: Path | None = None  # single-subject images; default <exemplars>/stage1 or <out>/stage1
    resume: bool = False  # continue an interrupted stage
    restart: bool = False  # discard saved states and train from scratch
    pt: bool = False  # also write A1111 .pt files
    previews: bool = True  # write <name>.preview.png sidecars
    work: Path | None = None  # resumable state, snapshots and latent cache; default <out>/.interinv
    prepare: PrepareOptions | None = None  # how to make stage-1 images; None = they must exist
    prepared: Path | None = None  # where prepare writes; default <exemplars>/prepared
    prepare_when: str = "missing"  # one of PREPARE_WHEN
    phases: tuple[str, ...] = PHASES  # the phases to run; a later phase loads the finished earlier ones
    relation_only: bool = False  # no pose words and no stage 1: captions read "O1 R O2" (the baselines)


@dataclass(frozen=True)
class Outcome:
    """What a run made."""

    words: dict[str, PseudoWord]  # "p1", "r", "p2" (those trained or loaded)
    manifest: Path | None = None  # the export's <slug>.interaction.json, when exported
    prepared: Prepared | None = None  # what prepare wrote, when it ran


def workdir(out: Path) -> Path:
    """Resumable state, snapshots and the latent cache of one output folder."""
    return Path(out) / ".interinv"


def run(host: Host | None, request: TrainRequest, job: Job) -> Outcome:
    """Prepare, stage 1, stage 2 and export (those in request.phases; the others must have finished)."""
    unknown = sorted(set(request.phases) - set(PHASES))
    if unknown or request.prepare_when not in PREPARE_WHEN:
        raise InterInvError(f"Unknown phases {unknown} or prepare_when '{request.prepare_when}': phases are "
                            f"{', '.join(PHASES)}; prepare_when is one of {', '.join(PREPARE_WHEN)}.")
    interaction = load_interaction(request.exemplars)
    cfg = dataclasses.replace(request.config, name=check_slug(request.name or interaction.name or request.config.name))
    if request.phases == ("prepare",):  # a prepare alone writes only the prepared folder
        with output_lock(_prepared_folder(request), job.log):
            return Outcome({}, prepared=_prepare(host, request, job))
    ensure_writable(request.out)
    with output_lock(Path(request.out), job.log):
        prepared = _prepare(host, request, job)
        return dataclasses.replace(_train(host, request, cfg, interaction, job, prepared), prepared=prepared)


def _prepare(host: Host | None, request: TrainRequest, job: Job) -> Prepared | None:
    if request.prepare is None or "prepare" not in request.phases or request.relation_only:
        return None
    if request.prepare_when == "missing" and _existing_stage1(request) is not None:
        return None
    job.log("making the stage-1 images: running prepare")
    return prepare(host, request.exemplars, request.prepare, job, out=_prepared_folder(request))


def _train(host: Host, request: TrainRequest, cfg: TrainConfig, interaction: Interaction, job: Job,
           prepared: Prepared | None) -> Outcome:
    images = None
    if not request.relation_only:
        stage1 = prepared.stage1 if prepared is not None and request.stage1_images is None else stage1_folder(request)
        interaction = with_prepared(interaction, stage1.parent)
        images = load_subject_images(stage1, dict(zip(("p1", "p2"), interaction.exemplars[0].subjects)))
    check_inputs(host, interaction.exemplars, images, cfg)
    work = request.work or workdir(request.out)
    if request.restart and (work / "state").is_dir():
        shutil.rmtree(work / "state")

    def snapshot(words: Mapping[str, PseudoWord], step: int) -> None:
        write_snapshot(work / "snapshots", words, host.family, step)

    cache = work / "latents"
    poses = None
    if images is not None:
        poses = train_stage1(host, images, cfg, workdir=work, job=job, resume=request.resume, cache_dir=cache,
                             snapshot=snapshot, finished_only="stage1" not in request.phases)
    words = dict(poses or {})
    if "stage2" not in request.phases and "export" not in request.phases:
        return Outcome(words)
    words["r"] = train_stage2(host, interaction.exemplars, poses, cfg, workdir=work, job=job, resume=request.resume,
                              cache_dir=cache, snapshot=snapshot, finished_only="stage2" not in request.phases)
    if "export" not in request.phases:
        return Outcome(words)
    job.log("exporting embeddings")
    manifest = export_interaction(request.out, words, host, export_info(interaction, cfg), pt=request.pt,
                                  previews=request.previews, step=cfg.stage2.steps,
                                  preview=PreviewSettings(steps=cfg.preview_steps, size=cfg.resolution))
    return Outcome(words, manifest=manifest)


def check_inputs(host: Host, exemplars: Sequence[Exemplar], images: Mapping[str, Sequence[SubjectImage]] | None,
                 cfg: TrainConfig) -> None:
    """Fail before the first step, not after hours: every image opens and every caption fits the text encoder."""
    names = token_names(cfg.name)
    for exemplar in exemplars:
        load_image(exemplar.image)
    counts = {names["r"]: cfg.stage2.r_vectors or cfg.num_vectors}
    if images is not None:
        counts.update({names[role]: cfg.num_vectors for role in ("p1", "p2")})
        templates = [check_template(t, STAGE1_SLOTS, "stage1.templates") for t in cfg.stage1.templates]
        for role, subject_images in images.items():
            for item in subject_images:
                load_image(item.image)
            for subject in sorted({item.subject for item in subject_images}):
                for template in templates:
                    host.token_positions(fill_template(template, o=subject, p=names[role]), {names[role]: cfg.num_vectors})
    pose_names = {role: names[role] if images is not None else "" for role in ("p1", "p2")}
    for exemplar in exemplars:
        for choice in range(len(exemplar.templates)):
            host.token_positions(stage2_caption(exemplar, choice, pose_names, names["r"]), counts)


def stage1_folder(request: TrainRequest) -> Path:
    """The stage-1 images: --stage1-images, else <exemplars>/stage1, a finished <exemplars>/prepared/stage1, <out>/stage1."""
    folder = _existing_stage1(request)
    if folder is None:
        raise InterInvError(
            f"No stage-1 images found (looked in {request.exemplars / STAGE1_FOLDER}, "
            f"{_prepared_folder(request) / STAGE1_FOLDER} and {request.out / STAGE1_FOLDER}). "
            "Run 'interinv prepare' to render them, or pass --stage1-images with p1/ and p2/ folders."
        )
    return folder


def _prepared_folder(request: TrainRequest) -> Path:
    return request.prepared or default_out(request.exemplars)


def _existing_stage1(request: TrainRequest) -> Path | None:
    if request.stage1_images is not None:
        return request.stage1_images  # given explicitly: if it is missing, loading it says so
    prepared = _prepared_folder(request) / STAGE1_FOLDER
    if (prepared / STAGE1_FILE).is_file():  # without its stage1.json a prepare run did not finish
        return prepared
    return next((f for f in (request.exemplars / STAGE1_FOLDER, request.out / STAGE1_FOLDER) if f.is_dir()), None)


def export_info(interaction: Interaction, cfg: TrainConfig) -> ExportInfo:
    names = token_names(cfg.name)
    template = f"a {{o1}} {names['p1']} {names['r']} a {{o2}} {names['p2']}"
    return ExportInfo(cfg.name, interaction.exemplars[0].subjects, template, interaction.description,
                      {"config": cfg.to_dict()})


def ensure_writable(out: Path) -> None:
    """Fail before hours of training, not after, when the output folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".interinv-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InterInvError(f"Cannot write to the output folder '{out}' ({exc.strerror}). Choose another --out.") from exc
