"""The `interinv` command: a thin shell over the engine."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import string
import sys
from pathlib import Path
from typing import Sequence

from .config import TrainConfig, config_from_dict, parse_settings, with_overrides
from .errors import InterInvError, TrainingInterrupted
from .job import Job

# Parsing and --help import neither torch nor the world: every heavy import is inside the command that needs it.
TINY_MODEL = "interinv:tiny"  # the tiny random model of interinv.testing (tests, an offline smoke test)
TINY_MODELS = {TINY_MODEL: "tiny_host", "interinv:tiny-sdxl": "tiny_sdxl_host"}  # --model value -> testing function
DEFAULTS = TrainConfig()


class CliJob(Job):
    """A tqdm bar with the loss terms and ETA; previews saved as PNG files; Ctrl-C stops cleanly."""

    def __init__(self, preview_dir: Path | None = None, quiet: bool = False):
        self.preview_dir, self.quiet, self.bar, self._stop = preview_dir, quiet, None, False

    def begin(self, stage: str, total_steps: int, first_step: int) -> None:
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(total=total_steps, initial=first_step, desc=stage, disable=self.quiet, dynamic_ncols=True)

    def update(self, stage: str, step: int, losses: dict[str, float]) -> None:
        self.bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
        self.bar.update(step - self.bar.n)

    def preview(self, stage, step, images, captions) -> None:
        from .formats.infotext import save_png

        for index, (image, caption) in enumerate(zip(images, captions)):
            if self.preview_dir is not None:
                save_png(self.preview_dir / f"{stage}-{step:06d}-{index}.png", image, caption)

    def log(self, message: str) -> None:
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    def stop_requested(self) -> bool:
        return self._stop

    def request_stop(self, *_args) -> None:
        if self._stop:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop = True
        self.log("Stopping after this step and saving a resumable state (Ctrl-C again to abort now)...")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return value


# --- argument groups ----------------------------------------------------------------------------
def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=f"diffusers folder, .safetensors/.ckpt file, hub id, or {' / '.join(TINY_MODELS)}")
    parser.add_argument("--config-dir", help="diffusers folder whose configs serve a single-file checkpoint offline "
                                             "(default: the configs shipped with diffusers)")
    parser.add_argument("--controlnet", help="openpose ControlNet folder or hub id for stage-1 synthesis (default: none)")
    parser.add_argument("--family", choices=("sd1", "sd2"), help="model family when it cannot be detected "
                                                                 "(default: detected from the text encoder's width)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                        help="weights and autocast precision (default: auto, fp16 on a GPU, fp32 on the CPU)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute the UNet's activations in the backward pass: less GPU memory, slower steps "
                             "(for SDXL on 16 GB cards) (default: off)")


def _train_args(parser: argparse.ArgumentParser) -> None:
    stage1, stage2 = DEFAULTS.stage1, DEFAULTS.stage2
    parser.add_argument("--config", help="JSON file of TrainConfig options, nested like interinv/config.py (default: none)")
    parser.add_argument("--name", help="interaction name: files are NAME_p1, NAME_r, NAME_p2 (default: the name in "
                                       f"interaction.json, else {DEFAULTS.name})")
    parser.add_argument("--resolution", type=int,
                        help=f"training image side in pixels (default {DEFAULTS.resolution}; 1024 on SDXL)")
    parser.add_argument("--num-vectors", type=int, help=f"vectors per pseudo-word (default {DEFAULTS.num_vectors})")
    parser.add_argument("--steps1", type=int, help=f"stage-1 steps (default {stage1.steps})")
    parser.add_argument("--steps2", type=int, help=f"stage-2 steps (default {stage2.steps})")
    parser.add_argument("--batch-size", type=int, help=f"samples per step of both stages (default {stage1.batch_size})")
    parser.add_argument("--seed", type=int, help=f"seed of both stages (and of prepare's images) (default {stage1.seed})")
    parser.add_argument("--save-every", type=int, help="save a resumable state and snapshots every N steps "
                                                       f"(default {stage1.save_every})")
    parser.add_argument("--preview-every", type=int, help="write preview images every N steps (default "
                                                          f"{stage1.preview_every}: none)")
    parser.add_argument("--preview-steps", type=int, help="sampling steps of each preview image "
                                                          f"(default {DEFAULTS.preview_steps})")
    parser.add_argument("--ca-weight", type=float, help=f"λ of the cross-attention loss, 0 = off (default {stage2.ca_weight})")
    parser.add_argument("--no-prior", action="store_true", help="ablation: no AdaIN priors (default: priors on)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any TrainConfig option by its dotted key, e.g. stage2.ca_weight=0.02 or prior.verbs=NAME; "
                             "repeatable, applied after the other options (default: none)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run (default: off)")
    parser.add_argument("--restart", action="store_true", help="discard saved states and start over (default: off)")
    parser.add_argument("--pt", action="store_true", help="also write A1111 .pt files (default: off)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or log lines (default: off)")


# The dotted keys each training flag sets; --set reaches every other option the same way.
FLAG_KEYS = {"resolution": ("resolution",), "num_vectors": ("num_vectors",),
             "steps1": ("stage1.steps",), "steps2": ("stage2.steps",),
             "batch_size": ("stage1.batch_size", "stage2.batch_size"), "seed": ("stage1.seed", "stage2.seed"),
             "save_every": ("stage1.save_every", "stage2.save_every"),
             "preview_every": ("stage1.preview_every", "stage2.preview_every"), "ca_weight": ("stage2.ca_weight",),
             "preview_steps": ("preview_steps",)}


def build_config(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """--config, then the flags, then --set: one dotted-key override of `base` (else TrainConfig's defaults; --name
    goes to the request)."""
    cfg = base or TrainConfig()
    if args.config:
        try:
            cfg = config_from_dict(json.loads(Path(args.config).read_text(encoding="utf-8")), str(args.config), cfg)
        except (OSError, json.JSONDecodeError) as exc:
            raise InterInvError(f"Cannot read --config '{args.config}': {exc}.") from exc
    flags = {key: getattr(args, attr) for attr, keys in FLAG_KEYS.items() for key in keys if getattr(args, attr) is not None}
    if args.no_prior:
        flags["prior.enabled"] = False
    cfg = with_overrides(cfg, flags, "the command line")
    return with_overrides(cfg, parse_settings(args.set), "--set")


def load_model(args: argparse.Namespace):
    if args.model in TINY_MODELS:
        from . import testing

        return getattr(testing, TINY_MODELS[args.model])(with_controlnet=True)
    from .hosts.diffusers_host import load_host

    return load_host(args.model, device=args.device, precision=args.precision, controlnet=args.controlnet,
                     family=args.family, config=args.config_dir, gradient_checkpointing=args.gradient_checkpointing)


def _command(sub, name: str, text: str, run) -> argparse.ArgumentParser:
    """A subcommand whose one-line description shows in `interinv --help` and atop its own --help."""
    command = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    command.set_defaults(run=run)
    return command


# --- commands ---------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from .engine.run import TrainRequest, run
    from .formats.families import default_resolution

    phases = {"train": ("prepare", "stage1", "stage2", "export"), "stage1": ("prepare", "stage1"),
              "stage2": ("prepare", "stage2"), "export": ("prepare", "export")}[args.command]
    request = TrainRequest(exemplars=Path(args.folder), out=Path(args.out), config=build_config(args), name=args.name,
                           stage1_images=Path(args.stage1_images) if args.stage1_images else None,
                           resume=args.resume, restart=args.restart, pt=args.pt, prepare=_prepare_options(args),
                           phases=phases)  # the options are checked before the model loads

    def train(job):
        host = load_model(args)  # the family's own side (SDXL: 1024) unless an option sets the resolution
        config = build_config(args, TrainConfig(resolution=default_resolution(host.family)))
        return run(host, dataclasses.replace(request, config=config), job)

    outcome = _run_job(args, train)
    done = ", ".join(phase for phase in phases if phase != "prepare")
    print(f"Wrote {outcome.manifest}" if outcome.manifest else f"Finished {done}; the state is in {args.out}/.interinv")
    return 0


def _run_job(args, work):
    job = CliJob(Path(args.out) / "previews", quiet=args.quiet)
    previous = signal.signal(signal.SIGINT, job.request_stop)
    try:
        return work(job)
    finally:
        signal.signal(signal.SIGINT, previous)
        job.close()


def cmd_demo(args: argparse.Namespace) -> int:
    from interinv_world.demo import run_demo
    from interinv_world.models import load_world
    from interinv_world.settings import DemoConfig

    cfg = DemoConfig(**{k: getattr(args, k) for k in ("interaction", "steps", "samples", "seed") if getattr(args, k) is not None})
    report = _run_job(args, lambda job: run_demo(load_world(Path(args.weights)), Path(args.out), cfg, job))
    accuracy = report["accuracy"]
    print(f"Learned '{report['interaction']}' from rendered exemplars of two persons; wrote {report['manifest']}.\n"
          f"Judged by the world's interaction scorer on new subject pairs ({args.out}/comparison.png):\n"
          f"  prompt only  ('{report['prompt_only']}'): {accuracy['prompt']['interaction']:.0%}\n"
          f"  learned words ('{report['ours']}'): {accuracy['ours']['interaction']:.0%}")
    return 0


def check_prompt(prompt: str) -> str:
    """A --prompt may use the slots {p1}, {r} and {p2} only; literal braces are doubled."""
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(prompt) if field is not None}
    except ValueError as exc:
        raise InterInvError(f"--prompt '{prompt}' is malformed ({exc}). Write a literal brace as '{{{{' or '}}}}'.") from exc
    unknown = sorted(used - {"p1", "r", "p2"})
    if unknown:
        raise InterInvError(f"--prompt '{prompt}' uses unknown slots {', '.join('{' + s + '}' for s in unknown)}. "
                            "The slots are {p1}, {r} and {p2}, e.g. \"a cat {p1} {r} a dog {p2}\".")
    return prompt


def cmd_generate(args: argparse.Namespace) -> int:
    check_prompt(args.prompt)
    from .export import preview_grid

    target = preview_grid(load_model(args), Path(args.embeddings), args.prompt, seeds=range(args.seeds),
                          steps=args.steps, target=Path(args.out))
    print(f"Wrote {target}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .formats.embedding_files import embedding_problems, read_embedding
    from .formats.families import FAMILY_BY_WIDTH

    emb = read_embedding(args.file)
    family = emb.metadata.get("interinv.family") or FAMILY_BY_WIDTH.get(next(iter(emb.widths.values())), "?")
    print(f"file: {emb.path}\nformat: {emb.format}\nfamily: {'sdxl' if emb.format == 'sdxl' else family}")
    for key, tensor in emb.tensors.items():
        print(f"tensor {key}: shape {list(tensor.shape)} ({tensor.shape[0]} vectors of width {tensor.shape[1]})")
    for key, value in sorted(emb.metadata.items()):
        print(f"{key}: {value}")
    for problem in embedding_problems(emb):
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .data.exemplars import write_spec_template

    print(f"Wrote {write_spec_template(Path(args.folder), args.subjects)}")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from .share.bundle import write_bundle

    print(f"Wrote {write_bundle(args.out, args.zip)}\nCivitai has no upload API: upload this zip on the site by hand.")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .share.hub import push_to_hub

    print(f"Pushed: {push_to_hub(args.out, args.repo, private=args.private)}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from .share.install import install_interaction

    target = install_interaction(args.source, args.embeddings_dir, family=args.family, width=args.width, force=args.force)
    print(f"Installed into {target}")
    return 0


def _share_commands(sub) -> None:
    bundle = _command(sub, "bundle", "write a Civitai-ready zip of an exported interaction", cmd_bundle)
    bundle.add_argument("out", help="output folder of 'interinv train'")
    bundle.add_argument("--zip", required=True, help="the zip file to write")
    push = _command(sub, "push", "upload an exported interaction to the Hugging Face Hub (one commit)", cmd_push)
    push.add_argument("out", help="output folder of 'interinv train'")
    push.add_argument("--repo", required=True, help="the Hub repository, user/name")
    push.add_argument("--private", action="store_true", help="create the repository private (default: public)")
    install = _command(sub, "install", "install a bundle zip, Hub repo id or folder into a WebUI embeddings folder",
                       cmd_install)
    install.add_argument("source", help="a bundle zip, a Hub repo id (user/name) or an exported folder")
    install.add_argument("--embeddings-dir", required=True, help="the WebUI's embeddings folder")
    install.add_argument("--family", choices=("sd1", "sd2", "sdxl"),
                         help="refuse files of another family (default: accept any)")
    install.add_argument("--width", type=int, help="refuse files of another token width, 768, 1024, ... "
                                                   "(default: accept any)")
    install.add_argument("--force", action="store_true", help="overwrite an installed interaction (default: off)")


def cmd_eval(args: argparse.Namespace) -> int:
    from .atomic import write_text_atomic
    from .eval.clip import CLIP_BATCH_SIZE, DEFAULT_CLIP_ARCH
    from .eval.evaluate import format_report
    from .eval.run import EvalRequest, run_eval

    human = sys.stderr if args.json == "-" else sys.stdout  # `--json -` keeps stdout for the JSON alone
    request = EvalRequest(
        images=Path(args.images), embeddings=Path(args.embeddings), clip=_path(args.clip),
        description=args.description, pose_s=_path(args.pose_s), pose_kp=_path(args.pose_kp),
        train_classifiers=_path(args.train_classifiers), classifiers_out=Path(args.classifiers_out),
        pose_detector=args.pose_detector, pose_detector_path=args.pose_detector_path, device=args.device,
        clip_arch=args.clip_arch or DEFAULT_CLIP_ARCH, batch_size=args.batch_size or CLIP_BATCH_SIZE,
    )
    report = run_eval(request, log=lambda message: print(message, file=human))
    print(format_report(report), file=human)
    if args.json:
        text = json.dumps(report.to_dict(), indent=2) + "\n"
        if args.json == "-":
            print(text, end="")
        else:
            print(f"Wrote {write_text_atomic(Path(args.json), text)}")
    return 0


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _eval_commands(sub) -> None:
    run = _command(sub, "eval", "score generated images: CLIP-T, CLIP-S, Pose-S, Pose-KP (x100, mean ± 95%% CI)",
                   cmd_eval)
    run.add_argument("images", help="folder of generated images; each prompt from its PNG infotext or <image>.txt")
    run.add_argument("--embeddings", required=True, help="output folder of 'interinv train' (or its .interaction.json)")
    run.add_argument("--clip", help="local CLIP: transformers folder, open_clip folder or open_clip checkpoint file "
                                    "(default: no CLIP scores)")
    run.add_argument("--clip-arch", help="open_clip architecture of a checkpoint file (default: ViT-L-14-quickgelu, "
                                         "OpenAI's ViT-L/14)")
    run.add_argument("--description", help="the interaction in words for CLIP-T (default: the manifest's description)")
    run.add_argument("--pose-s", help="Pose-S classifier file, safetensors from --train-classifiers (default: none)")
    run.add_argument("--pose-kp", help="Pose-KP classifier file, safetensors from --train-classifiers (default: none)")
    run.add_argument("--train-classifiers", metavar="FOLDER",
                     help="train both pose classifiers on FOLDER/<interaction>/ exemplar folders, then score with them "
                          "(default: none)")
    run.add_argument("--classifiers-out", default="pose-classifiers",
                     help="where --train-classifiers saves them (default: pose-classifiers)")
    run.add_argument("--pose-detector", help="detector for images without <image>.json poses, e.g. openpose "
                                             "(default: none; the pose metrics then need every image's pose JSON)")
    run.add_argument("--pose-detector-path", help="local folder or hub id of the detector's weights (default: the detector's own)")
    run.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    run.add_argument("--batch-size", type=int, help="images per CLIP batch (default 8)")
    run.add_argument("--json", metavar="FILE", help="also write every number (per image too) as JSON; '-' prints it "
                                                     "(default: none)")


# --- prepare ---------------------------------------------------------------------------------------
def _prepare_args(parser: argparse.ArgumentParser) -> None:
    """Options of `prepare`; `train` takes them too, for the prepare it runs when no stage-1 images exist."""
    parser.add_argument("--per-subject", type=int, help="stage-1 images per subject of each exemplar (default 8)")
    parser.add_argument("--source", choices=("controlnet", "crops"),
                        help="stage-1 images from the openpose ControlNet (default), or masked exemplar crops (weaker)")
    parser.add_argument("--sam", help="SAM checkpoint for subject masks (default: masks drawn around the skeletons)")
    parser.add_argument("--sam-type", choices=("vit_b", "vit_l", "vit_h"), help="model type of --sam (default vit_b)")
    parser.add_argument("--detector", help="pose detector for images without an OpenPose JSON (default openpose)")
    parser.add_argument("--annotator", help="the detector's weights: local folder or hub id (default lllyasviel/Annotators)")
    parser.add_argument("--sample-steps", type=int, help="sampling steps per stage-1 image (default 20)")
    parser.add_argument("--guidance", type=float, help="guidance scale of the stage-1 images (default 7.5)")
    parser.add_argument("--image-size", type=int, help="stage-1 image side in pixels (default: the model's native size)")
    parser.add_argument("--prompt-bank", choices=("photo", "world"),
                        help="stage-1 prompts: photo (clothes x places) or world (subject words only, for the "
                             "interaction world) (default: photo)")


def _prepare_options(args: argparse.Namespace):
    from .data.prepare import PrepareOptions

    given = {"per_subject": args.per_subject, "source": args.source, "sam": args.sam, "sam_type": args.sam_type,
             "detector": args.detector, "annotator": args.annotator, "steps": args.sample_steps,
             "guidance": args.guidance, "resolution": args.image_size, "seed": args.seed,
             "prompt_bank": _prompt_bank(args.prompt_bank)}
    return PrepareOptions(**{key: value for key, value in given.items() if value is not None})


def _prompt_bank(name: str | None):
    """The bank of a --prompt-bank name; None keeps the default (photo)."""
    if name == "world":
        from interinv_world.prompts import WORLD_BANK

        return WORLD_BANK
    return None


def cmd_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import default_out, prepare

    options = _prepare_options(args)
    args.out = args.out or str(default_out(args.folder))
    host = None if options.source == "crops" else load_model(args)  # crops need no model
    done = _run_job(args, lambda job: prepare(host, Path(args.folder), options, job, Path(args.out)))
    exported = done.out / "poses"
    detected = f" (the detected ones are in {exported})" if any(p.parent == exported for p in done.poses.values()) else ""
    print(f"Wrote the stage-1 images in {done.stage1} and the contact sheet {done.contact_sheet}.\n"
          f"Check the poses on the contact sheet. To fix one, edit its OpenPose JSON{detected} in the openpose "
          "editor, save it beside its image as NAME.json and run prepare again.")
    return 0


def _prepare_commands(sub) -> None:
    run = _command(sub, "prepare", "poses, masks, stage-1 images and a contact sheet for an exemplar folder", cmd_prepare)
    run.add_argument("folder", help="interaction folder: images + interaction.json")
    run.add_argument("--out", help="output folder (default: FOLDER/prepared, where train finds it)")
    run.add_argument("--seed", type=int, help="base seed of the stage-1 images (default 0)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or log lines (default: off)")
    _model_args(run)
    _prepare_args(run)


def parser() -> argparse.ArgumentParser:
    from interinv_world.commands import add_world_commands
    from interinv_world.settings import WEIGHTS_DIR, DemoConfig

    root = argparse.ArgumentParser(prog="interinv", description="Learn an interaction between two subjects.")
    sub = root.add_subparsers(dest="command", required=True)
    for name, text in (("train", "run both stages and export the three embeddings"),
                       ("stage1", "learn only the pose words P1, P2"),
                       ("stage2", "learn only the relation word R (stage 1 must have finished)"),
                       ("export", "write the embeddings of finished stages again")):
        train = _command(sub, name, text, cmd_train)
        train.add_argument("folder", help="interaction folder: images + interaction.json")
        train.add_argument("--out", required=True, help="where the embeddings, manifest and previews are written")
        train.add_argument("--stage1-images", help="single-subject images: p1/, p2/ (+ stage1.json) (default: "
                                                   "FOLDER/stage1, FOLDER/prepared/stage1 or OUT/stage1)")
        _model_args(train)
        _train_args(train)
        _prepare_args(train)
    demo = _command(sub, "demo", "learn a held-out interaction of the bundled interaction world (CPU minutes)", cmd_demo)
    demo.add_argument("--out", default="interinv-demo", help="output folder (default: interinv-demo)")
    demo.add_argument("--weights", default=str(WEIGHTS_DIR),
                      help="a folder written by 'interinv world pretrain' (default: the bundled world)")
    demo.add_argument("--interaction", help="a held-out interaction of the world to learn (default: its first table "
                      "interaction, kiss_hand in the bundled world)")
    demo.add_argument("--steps", type=int, help=f"optimizer steps over both stages (default {DemoConfig.steps})")
    demo.add_argument("--samples", type=int, help=f"images per row of the comparison grid (default {DemoConfig.samples})")
    demo.add_argument("--seed", type=int, help=f"seed of the exemplars, training and samples (default {DemoConfig.seed})")
    demo.add_argument("--quiet", action="store_true", help="no progress bar or log lines (default: off)")
    generate = _command(sub, "generate", "render a prompt with exported embeddings into a PNG grid", cmd_generate)
    _model_args(generate)
    generate.add_argument("--embeddings", required=True, help="output folder of 'interinv train'")
    generate.add_argument("--prompt", required=True, help='e.g. "a cat {p1} {r} a dog {p2}"')
    generate.add_argument("--out", default="grid.png", help="the PNG grid to write (default: grid.png)")
    generate.add_argument("--seeds", type=positive_int, default=4, help="images in the grid, seeds 0..N-1 (default 4)")
    generate.add_argument("--steps", type=positive_int, default=25, help="sampling steps per image (default 25)")
    inspect = _command(sub, "inspect", "show an embedding file's format, shape and metadata", cmd_inspect)
    inspect.add_argument("file", help="an embedding file: .safetensors, .pt or .bin")
    init = _command(sub, "init", "write an interaction.json template for a folder of images", cmd_init)
    init.add_argument("folder", help="the folder of exemplar images")
    init.add_argument("--subjects", nargs=2, metavar=("O1", "O2"), default=("person", "person"),
                      help="the two subject words (default: person person)")
    _share_commands(sub)
    _prepare_commands(sub)
    _eval_commands(sub)
    add_world_commands(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except TrainingInterrupted as exc:
        print(str(exc), file=sys.stderr)
        return 130
    except InterInvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an unforeseen failure: one line here, the traceback in a file
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} (unexpected; {_write_crash_log(argv)}; "
              "please attach it to a bug report)", file=sys.stderr)
        return 1


def _write_crash_log(argv: Sequence[str] | None) -> str:
    """Write the current exception's traceback to a new file in the temp folder; say where."""
    import tempfile
    import traceback

    command = " ".join(sys.argv[1:] if argv is None else argv)
    try:
        fd, path = tempfile.mkstemp(prefix="interinv-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            log.write(f"interinv {command}\n\n{traceback.format_exc()}")
    except OSError as exc:
        return f"the traceback could not be saved ({exc.strerror})"
    return f"the traceback is in {path}"


if __name__ == "__main__":
    sys.exit(main())
