"""Stage-1 synthesis: the prompt bank, seeds, ControlNet renders on the tiny model, resuming, the crop fallback."""

import numpy as np
import pytest
from conftest import CountingHost
from PIL import Image

from interinv.errors import InterInvError
from interinv.formats.infotext import save_png
from interinv.data.masks import write_mask
from interinv.data.pose import Person, subject_skeleton
from interinv.data.synth import (
    CROP_BACKGROUNDS,
    PHOTO_BANK,
    SubjectPose,
    SynthOptions,
    image_seed,
    prompt_bank,
    require_pose_generation,
    subject_crop,
    synthesize,
)

# A standing figure on a normalised canvas; its ears are missing.
FIGURE = Person(((0.5, 0.15), (0.5, 0.25), (0.42, 0.25), (0.38, 0.4), (0.36, 0.55), (0.58, 0.25), (0.62, 0.4),
                 (0.64, 0.55), (0.45, 0.55), (0.45, 0.72), (0.45, 0.9), (0.55, 0.55), (0.55, 0.72), (0.55, 0.9),
                 (0.48, 0.13), (0.52, 0.13), None, None))


@pytest.fixture(scope="module", params=["tiny_host", "tiny_sdxl_host"])
def pose_host(request):
    """The tiny SD1 and the tiny SDXL model, each with its openpose ControlNet."""
    from interinv import testing

    return getattr(testing, request.param)(with_controlnet=True)


@pytest.fixture
def subject(tmp_path):
    """A subject of a 64 x 64 exemplar: its skeleton map, the photo, and a square mask around it."""
    image = Image.new("RGB", (64, 64), (250, 0, 0))
    save_png(tmp_path / "ex.png", image)
    save_png(tmp_path / "skeleton.png", subject_skeleton(FIGURE, (64, 64), 64))
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 24:40] = True
    write_mask(tmp_path / "mask.png", mask)
    return SubjectPose("ex.png", "p1", "man", tmp_path / "skeleton.png", tmp_path / "ex.png", tmp_path / "mask.png")


# ---- prompts and seeds ------------------------------------------------------------------------


def test_prompt_bank_keeps_the_subject_and_varies_appearance_and_background():
    prompts = prompt_bank("man", 8, seed=0)
    assert len(set(prompts)) == 8 and all(p.startswith("a photo of a man ") for p in prompts)
    assert len({next(a for a in PHOTO_BANK.appearances if a in p) for p in prompts}) > 1
    assert len({next(b for b in PHOTO_BANK.backgrounds if b in p) for p in prompts}) > 1


def test_prompt_bank_depends_only_on_its_seed():
    assert prompt_bank("man", 5, seed="a") == prompt_bank("man", 5, seed="a") != prompt_bank("man", 5, seed="b")


def test_prompt_bank_repeats_only_after_every_combination():
    combinations = len(PHOTO_BANK.appearances) * len(PHOTO_BANK.backgrounds)
    prompts = prompt_bank("dog", combinations + 1)
    assert len(set(prompts[:combinations])) == combinations and prompts[combinations] == prompts[0]


def test_image_seeds_are_stable_and_distinct():
    seeds = [image_seed(0, "ex.png", "p1", i) for i in range(50)]
    assert seeds == [image_seed(0, "ex.png", "p1", i) for i in range(50)] and len(set(seeds)) == 50
    assert image_seed(1, "ex.png", "p1", 0) != seeds[0] and all(0 <= s < 2**31 for s in seeds)


# ---- ControlNet renders -----------------------------------------------------------------------


def test_renders_follow_the_skeleton_and_record_prompt_and_seed(pose_host, subject, tmp_path):
    host = CountingHost(pose_host)
    results = list(synthesize(host, subject, SynthOptions(per_subject=2, steps=1), tmp_path / "stage1"))
    entries = [entry for entry, _ in results]
    assert [made for _, made in results] == [True, True] and len(host.calls) == 2
    with Image.open(subject.skeleton) as skeleton:
        assert all(np.array_equal(np.asarray(kw["pose_image"]), np.asarray(skeleton.convert("RGB"))) for _, kw in host.calls)
    assert [(e.settings["prompt"], e.settings["seed"]) for e in entries] == [(p, kw["seed"]) for p, kw in host.calls]
    assert {e.subject for e in entries} == {"man"} and {e.source for e in entries} == {"controlnet"}
    with Image.open(tmp_path / "stage1" / entries[0].file) as image:
        assert image.size == (32, 32) and f"Seed: {entries[0].settings['seed']}" in image.info["parameters"]


def test_images_on_disk_are_kept_and_only_missing_ones_are_rendered(pose_host, subject, tmp_path):
    options = SynthOptions(per_subject=2, steps=1)
    first = [entry for entry, _ in synthesize(pose_host, subject, options, tmp_path)]
    (tmp_path / first[1].file).unlink()
    host = CountingHost(pose_host)
    again = list(synthesize(host, subject, options, tmp_path))
    assert [made for _, made in again] == [False, True] and len(host.calls) == 1
    assert [entry for entry, _ in again] == first


def test_synthesis_without_a_pose_capable_host_says_how_to_get_one(host):
    assert host.can_generate_poses is False
    for missing in (host, None):
        with pytest.raises(InterInvError, match="(?s)openpose ControlNet.*--controlnet.*--source crops"):
            require_pose_generation(missing)


def test_a_host_with_controlnet_can_generate_poses(pose_host):
    assert pose_host.can_generate_poses is True


@pytest.mark.parametrize("field, value, message", [
    ("source", "magic", "Unknown stage-1 source 'magic'. Choose one of: controlnet, crops"),
    ("prompt_bank", "film", "'prompt_bank' must be a PromptBank"),
    ("per_subject", 0, "'per_subject' must be a whole number of at least 1, got 0"),
    ("steps", 2.5, "'steps' must be a whole number"),
    ("resolution", -8, "'resolution' must be a whole number"),
])
def test_bad_options_name_the_option(field, value, message):
    with pytest.raises(InterInvError, match=message):
        SynthOptions(**{field: value}).check()


# ---- crops ------------------------------------------------------------------------------------


def test_subject_crop_puts_the_masked_subject_on_the_background():
    image = Image.new("RGB", (64, 64), (250, 0, 0))
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 24:40] = True
    crop = np.asarray(subject_crop(image, mask, (0, 0, 255), 50, margin=0.1))
    assert crop.shape == (50, 50, 3)
    assert tuple(crop[25, 25]) == (250, 0, 0)  # the subject, centred
    assert tuple(crop[0, 0]) == tuple(crop[25, 2]) == (0, 0, 255)  # outside the mask, inside the frame
    assert crop[:, :, 0].max(axis=0)[:6].max() == 0  # the margin: 10% of 50 px plus the narrower side's padding


def test_crops_need_no_model_and_vary_the_background(subject, tmp_path):
    results = list(synthesize(None, subject, SynthOptions(per_subject=3, source="crops", resolution=40), tmp_path))
    corners = []
    for entry, made in results:
        assert made and entry.source == "crops" and entry.subject == "man"
        with Image.open(tmp_path / entry.file) as image:
            assert image.size == (40, 40)
            corners.append(image.getpixel((0, 0)))
    assert corners == [CROP_BACKGROUNDS[i] for i in range(3)]


def test_an_empty_subject_mask_cannot_be_cropped(subject):
    write_mask(subject.mask, np.zeros((64, 64), dtype=bool))
    with pytest.raises(InterInvError, match="p1 mask of 'ex.png' .* is empty"):
        list(synthesize(None, subject, SynthOptions(per_subject=1, source="crops"), subject.mask.parent / "out"))
