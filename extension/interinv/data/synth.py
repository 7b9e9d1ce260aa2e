"""Stage-1 images: one subject alone in its exemplar pose, with new appearances and backgrounds.

The main source is `Host.generate_batch(prompts, pose_image=skeleton_map, ...)` with an openpose ControlNet: the
skeleton keeps the pose while a prompt bank varies clothing and background. The fallback is crops of
the subject from its exemplar, masked onto plain backgrounds: no model needed, but every image shows
the same person and lighting, so the pose words also learn that appearance. Use it only when no
ControlNet is available.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .cache import content_key
from ..errors import InterInvError
from .exemplars import load_image
from ..formats.infotext import save_png
from ..formats.interaction_file import Stage1Entry
from ..hosts.base import Host
from .masks import read_mask

SOURCES = ("controlnet", "crops")


@dataclass(frozen=True)
class PromptBank:
    """Stage-1 prompts: templates with {subject}, {appearance} and {background}, and the phrases that fill them."""

    templates: tuple[str, ...]
    appearances: tuple[str, ...] = ("",)
    backgrounds: tuple[str, ...] = ("",)
    negative_prompt: str = ""  # used unless the options give one


PHOTO_BANK = PromptBank(
    templates=("a photo of a {subject} {appearance}, {background}, full body, alone",),
    appearances=(
        "wearing a red jacket", "in a white shirt and jeans", "in a dark suit", "in a green sweater",
        "in a yellow raincoat", "in a striped t-shirt", "in a long blue coat", "in sportswear",
        "in a black outfit", "in light summer clothes", "in a grey hoodie", "in traditional clothing",
    ),
    backgrounds=(
        "on a city street", "in a park", "in a plain white studio", "on a beach", "in a living room",
        "in a forest", "in front of a brick wall", "in an office", "on a mountain trail", "in a library",
        "at night under street lights", "in a snowy field",
    ),
    negative_prompt="two people, crowd, multiple people, cropped, out of frame, blurry, deformed",
)
CROP_BACKGROUNDS = ((236, 236, 236), (40, 40, 40), (200, 220, 240), (240, 222, 200), (210, 235, 210),
                    (235, 210, 225), (128, 128, 128), (250, 248, 230))
CROP_MARGINS = (0.08, 0.15, 0.22)  # fraction of the crop left free on each side of the subject
CROP_SIDE = 512  # side of crop images when no resolution is set
SEED_RANGE = 2**31  # image seeds stay in the range every sampler accepts
RENDER_BATCH = 4  # images per generate_batch call: batched where the host can, and written to disk as each call ends
NO_CONTROLNET = (
    "Stage-1 synthesis needs an openpose ControlNet, and the loaded model has none. On the command line pass "
    "--controlnet with a local ControlNet folder or hub id (e.g. lllyasviel/control_v11p_sd15_openpose); in the "
    "WebUI install sd-webui-controlnet with an openpose model. Or use the crop fallback (--source crops): subject "
    "crops cut from the exemplars, a weaker stand-in."
)


@dataclass(frozen=True)
class SynthOptions:
    per_subject: int = 8  # stage-1 images per subject of each exemplar
    source: str = "controlnet"  # "controlnet": Host.generate on the skeleton; "crops": masked exemplar crops (weaker)
    resolution: int | None = None  # stage-1 image side in pixels; None = the model's native size (crops: 512)
    steps: int = 20  # sampling steps per image
    guidance: float = 7.5  # classifier-free guidance scale
    seed: int = 0  # every image's seed derives from it and the image's exemplar, role and index
    prompt_bank: PromptBank = PHOTO_BANK  # the stage-1 prompts; the default varies clothes and places
    negative_prompt: str | None = None  # None = the bank's (for PHOTO_BANK: no second person, no cropping)

    def check(self) -> None:
        """Refuse settings that cannot work, naming the option."""
        if self.source not in SOURCES:
            raise InterInvError(f"Unknown stage-1 source '{self.source}'. Choose one of: {', '.join(SOURCES)}.")
        if not isinstance(self.prompt_bank, PromptBank):
            raise InterInvError(f"The option 'prompt_bank' must be a PromptBank (templates with {{subject}}), got "
                                f"{self.prompt_bank!r}.")
        for name in ("per_subject", "steps") + (("resolution",) if self.resolution is not None else ()):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise InterInvError(f"The option '{name}' must be a whole number of at least 1, got {getattr(self, name)!r}.")


@dataclass(frozen=True)
class SubjectPose:
    """One subject of one exemplar: what its stage-1 images must show."""

    exemplar: str  # the exemplar's file name
    role: str  # "p1" or "p2"
    subject: str  # the subject word, which is the caption's {o}
    skeleton: Path  # the subject's skeleton map (ControlNet source)
    image: Path  # the exemplar image (crop source)
    mask: Path  # the subject's mask in the exemplar's frame (crop source)


def prompt_bank(subject: str, count: int, seed: object = 0, bank: PromptBank = PHOTO_BANK) -> list[str]:
    """count prompts for the subject word, each with another template, appearance and background while they last."""
    combos = list(itertools.product(bank.templates, bank.appearances, bank.backgrounds))
    random.Random(str(seed)).shuffle(combos)
    chosen = (combos * (count // len(combos) + 1))[:count]
    return [t.format(subject=subject, appearance=a, background=b) for t, a, b in chosen]


def image_seed(seed: int, *identity: object) -> int:
    """A stable seed for one image, from the run's seed and the image's identity."""
    return int(content_key(seed, identity), 16) % SEED_RANGE


def require_pose_generation(host: Host) -> None:
    """Refuse ControlNet synthesis, saying how to get a ControlNet, when the host cannot draw poses."""
    if host is None or not host.can_generate_poses:
        raise InterInvError(NO_CONTROLNET)


def synthesize(host: Host, pose: SubjectPose, options: SynthOptions, folder: Path) -> Iterator[tuple[Stage1Entry, bool]]:
    """options.per_subject stage-1 images of one subject in folder/<role>/, made lazily one by one.

    Yields each image's stage1.json entry and whether it was made now. An image's file name holds
    the content key of everything that shapes it, so an image already on disk is kept, not redone.
    """
    if options.source == "crops":
        yield from _crops(pose, options, folder)
    else:
        yield from _renders(host, pose, options, folder)


def _renders(host: Host, pose: SubjectPose, options: SynthOptions, folder: Path) -> Iterator[tuple[Stage1Entry, bool]]:
    require_pose_generation(host)
    skeleton_key = content_key(pose.skeleton)
    size = (options.resolution,) * 2 if options.resolution else None
    bank = options.prompt_bank
    negative = bank.negative_prompt if options.negative_prompt is None else options.negative_prompt
    prompts = prompt_bank(pose.subject, options.per_subject, (options.seed, pose.exemplar, pose.role), bank)
    planned = []
    for index, prompt in enumerate(prompts):
        settings = {"prompt": prompt, "negative_prompt": negative,
                    "seed": image_seed(options.seed, pose.exemplar, pose.role, index), "steps": options.steps,
                    "guidance": options.guidance}
        key = content_key("controlnet", host.model_name, skeleton_key, settings, size)
        planned.append((folder / pose.role / f"{Path(pose.exemplar).stem}-{index:02d}-{key}.png", settings))
    skeleton = None
    for start in range(0, len(planned), RENDER_BATCH):
        chunk = planned[start : start + RENDER_BATCH]
        missing = [(path, settings) for path, settings in chunk if not path.is_file()]
        if missing:
            if skeleton is None:
                skeleton = _open_rgb(pose.skeleton)
            images = host.generate_batch([s["prompt"] for _, s in missing], seeds=[s["seed"] for _, s in missing],
                                         pose_image=skeleton, steps=options.steps, guidance_scale=options.guidance,
                                         negative_prompt=negative, size=size)
            for (path, settings), image in zip(missing, images):
                save_png(path, image, f"{settings['prompt']}\nNegative prompt: {negative}\nSteps: {options.steps}, "
                                      f"CFG scale: {options.guidance}, Seed: {settings['seed']}, "
                                      f"Size: {image.width}x{image.height}")
        made = {path for path, _ in missing}
        for path, settings in chunk:
            yield _entry(path, folder, pose, "controlnet", settings), path in made


def _crops(pose: SubjectPose, options: SynthOptions, folder: Path) -> Iterator[tuple[Stage1Entry, bool]]:
    side = options.resolution or CROP_SIDE
    source_key = content_key(pose.image, pose.mask)
    subject = None
    for index in range(options.per_subject):
        settings = {"background": list(CROP_BACKGROUNDS[index % len(CROP_BACKGROUNDS)]),
                    "margin": CROP_MARGINS[index % len(CROP_MARGINS)]}
        key = content_key("crops", source_key, settings, side)
        path = folder / pose.role / f"{Path(pose.exemplar).stem}-{index:02d}-{key}.png"
        made = not path.is_file()
        if made:
            if subject is None:
                subject = _masked_subject(pose)
            save_png(path, subject_crop(*subject, tuple(settings["background"]), side, settings["margin"]))
        yield _entry(path, folder, pose, "crops", settings), made


def _entry(path: Path, folder: Path, pose: SubjectPose, source: str, settings: dict) -> Stage1Entry:
    return Stage1Entry(file=path.relative_to(folder).as_posix(), subject=pose.subject, exemplar=pose.exemplar,
                       source=source, settings=settings)


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _masked_subject(pose: SubjectPose) -> tuple[Image.Image, np.ndarray]:
    image = load_image(pose.image)
    mask = read_mask(pose.mask, image.size)
    if not mask.any():
        raise InterInvError(
            f"The {pose.role} mask of '{pose.exemplar}' ({pose.mask}) is empty, so there is no subject to crop. "
            "Provide a mask for the image, or prepare without --sam to use masks drawn around the skeleton."
        )
    return image, mask


def subject_crop(image: Image.Image, mask: np.ndarray, background: tuple[int, int, int], side: int,
                 margin: float) -> Image.Image:
    """The masked subject on a plain background, centred in a side x side square with margin on each side."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    half = max(x1 - x0, y1 - y0) / (1.0 - 2.0 * margin) / 2.0
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255))
    # Outside the image, crop() fills with transparent pixels, which become background.
    region = rgba.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    canvas = Image.new("RGBA", region.size, (*background, 255))
    canvas.alpha_composite(region)
    return canvas.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
