"""Both stages and the export, end to end: what the CLI's `train` and the WebUI's Train button run."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..errors import InterInvError
from ..data.exemplars import STAGE1_FILE, Interaction, load_interaction, load_subject_images
from ..export import ExportInfo, PreviewSettings, export_interaction, write_snapshot
from ..job import Job
from ..data.prepare import PrepareOptions, default_out, prepare, with_prepared
from .stages import train_stage1, train_stage2
from ..core.tokens import check_slug, token_names

STAGE1_FOLDER = "stage1"


@dataclass(frozen=True)
class TrainRequest:
    """Where the data is and where the results go."""

    exemplars: Path  # the interaction folder
    out: Path  # embeddings, manifest and previews are written here
    stage1_images: Path | None = None  # single-subject images; default <exemplars>/stage1 or <out>/stage1
    resume: bool = False  # continue an interrupted stage
    restart: bool = False  # discard saved states and train from scratch
    pt: bool = False  # also write A1111 .pt files
    previews: bool = True  # write <name>.preview.png sidecars
    work: Path | None = None  # resumable state, snapshots and latent cache; default <out>/.interinv
    prepare: PrepareOptions | None = None  # when no stage-1 images exist, run `prepare` with these options first


def workdir(out: Path) -> Path:
    """Resumable state, snapshots and the latent cache of one output folder."""
    return Path(out) / ".interinv"


def stage1_folder(request: TrainRequest) -> Path:
    """The stage-1 images: --stage1-images, else <exemplars>/stage1, a finished <exemplars>/prepared/stage1, <out>/stage1."""
    folder = _existing_stage1(request)
    if folder is None:
        raise InterInvError(
            f"No stage-1 images found (looked in {request.exemplars / STAGE1_FOLDER}, "
            f"{_prepared_stage1(request)} and {request.out / STAGE1_FOLDER}). "
            "Run 'interinv prepare' to render them, or pass --stage1-images with p1/ and p2/ folders."
        )
    return folder


def _prepared_stage1(request: TrainRequest) -> Path:
    return default_out(request.exemplars) / STAGE1_FOLDER


def _existing_stage1(request: TrainRequest) -> Path | None:
    if request.stage1_images is not None:
        return request.stage1_images  # given explicitly: if it is missing, loading it says so
    prepared = _prepared_stage1(request)
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


STEPS = ("stage1", "stage2", "export")


def run_training(host, request: TrainRequest, cfg: TrainConfig, job: Job, steps: tuple[str, ...] = STEPS) -> Path | None:
    """Stage 1, stage 2 and export (or some of them: the others must have finished); the manifest path."""
    check_slug(cfg.name)
    interaction = load_interaction(request.exemplars)
    if request.prepare is not None and _existing_stage1(request) is None:
        job.log("no stage-1 images yet: running prepare")
        prepare(host, request.exemplars, request.prepare, job)
    stage1 = stage1_folder(request)
    interaction = with_prepared(interaction, stage1.parent)
    images = load_subject_images(stage1, dict(zip(("p1", "p2"), interaction.exemplars[0].subjects)))
    ensure_writable(request.out)
    work = request.work or workdir(request.out)
    if request.restart and (work / "state").is_dir():
        shutil.rmtree(work / "state")
    snapshot = lambda words, step: write_snapshot(work / "snapshots", words, host.family, step)  # noqa: E731
    cache = work / "latents"
    poses = train_stage1(host, images, cfg, work, job, request.resume, cache, snapshot, "stage1" not in steps)
    if steps == ("stage1",):
        return None
    relation = train_stage2(host, interaction.exemplars, poses, cfg, work, job, request.resume, cache, snapshot,
                            "stage2" not in steps)
    if "export" not in steps:
        return None
    job.log("exporting embeddings")
    return export_interaction(request.out, {**poses, "r": relation}, host, export_info(interaction, cfg),
                              pt=request.pt, previews=request.previews, step=cfg.stage2.steps,
                              preview=PreviewSettings(steps=cfg.preview_steps, size=cfg.resolution))
