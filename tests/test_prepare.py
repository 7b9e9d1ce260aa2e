"""`prepare`: exemplar folder -> poses, skeleton maps, masks, stage-1 images, contact sheet; cache and errors."""

import json
import shutil

import numpy as np
import pytest
import skimage.data
from conftest import CountingHost, RecordingJob
from PIL import Image

from interinv.data import pose_detectors
from interinv.errors import InterInvError, TrainingInterrupted
from interinv.data.exemplars import load_interaction, load_subject_images
from interinv.data.masks import box_mask, hull_mask, read_mask, union_mask
from interinv.data.pose import PeopleCountError, person_box, read_openpose_json, subject_skeleton
from interinv.data.prepare import (
    CONTACT_CELL,
    CONTACT_LAYOUT,
    SAM_BOX_PAD,
    SKELETON_MARGIN,
    PrepareOptions,
    prepare,
    with_prepared,
)

W, H = 64, 48  # exemplar canvas in pixels
# Two people, hand-written as OpenPose (x, y, c) pixel triples; c=0 and (-1, -1) mark missing ears.
LEFT = [(16, 8, 1), (16, 13, 1), (12, 13, 1), (10, 20, 1), (9, 26, 1), (20, 13, 1), (23, 19, 1), (27, 22, 1),
        (13, 26, 1), (13, 34, 1), (13, 42, 1), (19, 26, 1), (19, 34, 1), (19, 42, 1), (15, 7, 1), (17, 7, 1),
        (0, 0, 0), (-1, -1, 1)]
RIGHT = [(48, 20, 1), (48, 24, 1), (44, 24, 1), (40, 26, 1), (33, 24, 1), (52, 24, 1), (54, 30, 1), (53, 35, 1),
         (45, 34, 1), (40, 40, 1), (47, 45, 1), (51, 34, 1), (51, 40, 1), (53, 46, 1), (47, 19, 1), (49, 19, 1),
         (46, 19, 0.5), (50, 19, 1)]
FAR_RIGHT = [(x + 8 if c else x, y, c) for x, y, c in RIGHT]
FAST = dict(per_subject=2, steps=1)  # the tiny model at its native 32 px, one sampling step


def pose_json(*people, normalised=False):
    scale = (W, H) if normalised else (1, 1)
    flat = [[v for x, y, c in person for v in (x / scale[0], y / scale[1], c)] for person in people]
    return {"canvas_width": W, "canvas_height": H, "people": [{"pose_keypoints_2d": f} for f in flat]}


def write_folder(folder, poses=None, images=None, spec=None):
    """An exemplar folder of real photos (scikit-image), with the given pose JSON per image (None = detect)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = images or {"a.png": Image.fromarray(skimage.data.astronaut()).resize((W, H)).convert("RGBA"),
                        "b.jpg": Image.fromarray(skimage.data.coffee()).resize((W, H)).convert("L")}
    poses = poses if poses is not None else {"a.png": pose_json(LEFT, RIGHT),
                                             "b.jpg": pose_json(LEFT, FAR_RIGHT, normalised=True)}
    for name, image in photos.items():
        image.save(folder / name)
    for name, data in poses.items():
        if data is not None:
            (folder / name).with_suffix(".json").write_text(json.dumps(data))
    (folder / "interaction.json").write_text(json.dumps(spec or {"name": "kneel", "subjects": ["man", "woman"]}))
    return folder


@pytest.fixture(scope="module")
def pose_host():
    from interinv.testing import tiny_host

    return CountingHost(tiny_host(with_controlnet=True))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, pose_host):
    """One full prepare of two exemplars (hand-written JSON, hull masks, tiny ControlNet), shared by the readers."""
    folder = write_folder(tmp_path_factory.mktemp("first") / "kneel")
    before = len(pose_host.calls)
    result = prepare(pose_host, folder, PrepareOptions(**FAST), RecordingJob())
    return folder, result, pose_host.calls[before:]


@pytest.fixture
def copied(first_run, tmp_path):
    """A copy of the first run's folder, prepared/ included, to run prepare on again."""
    return shutil.copytree(first_run[0], tmp_path / "kneel")


@pytest.fixture(scope="module")
def random_openpose(openpose_folder):
    detector = pose_detectors.get_detector("openpose", openpose_folder)
    detector.detect_resolution = 128  # keeps the random-weight pass short
    return detector


@pytest.fixture
def counted_detector(monkeypatch, random_openpose):
    """The random-weight OpenPose detector registered as 'counted', recording the images it is called on."""
    monkeypatch.setattr(pose_detectors, "_REGISTRY", dict(pose_detectors._REGISTRY))
    calls = []

    def detect(image):
        calls.append(image.size)
        return random_openpose(image)

    pose_detectors.register_detector("counted", lambda location, device: detect)
    return calls


# ---- what a run writes ---------------------------------------------------------------------------


def test_stage1_images_load_for_training_with_their_subject_words(first_run):
    folder, result, _ = first_run
    images = load_subject_images(result.stage1)
    assert result.stage1 == folder / "prepared" / "stage1"
    assert {role: [i.subject for i in images[role]] for role in images} == {"p1": ["man"] * 4, "p2": ["woman"] * 4}


def test_stage1_json_records_prompt_seed_and_source_of_each_image(first_run):
    _, result, calls = first_run
    entries = json.loads((result.stage1 / "stage1.json").read_text())
    records = entries["p1"] + entries["p2"]
    assert sorted((e["prompt"], e["seed"]) for e in records) == sorted((p, kw["seed"]) for p, kw in calls)
    assert {e["source"] for e in records} == {"controlnet"} and len({e["seed"] for e in records}) == 8
    assert [e["exemplar"] for e in entries["p1"]] == ["a.png", "a.png", "b.jpg", "b.jpg"]


def test_each_subject_skeleton_is_the_left_or_right_person_recentred(first_run):
    folder, result, calls = first_run
    people = read_openpose_json(folder / "a.json").people
    for person, path in zip(people, result.skeletons["a.png"]):
        with Image.open(path) as skeleton:
            expected = subject_skeleton(person, (W, H), 512, SKELETON_MARGIN)
            assert np.array_equal(np.asarray(skeleton.convert("RGB")), np.asarray(expected))
    with Image.open(result.skeletons["a.png"][0]) as skeleton:
        assert np.array_equal(np.asarray(calls[0][1]["pose_image"]), np.asarray(skeleton.convert("RGB")))


def test_without_sam_the_masks_are_skeleton_hulls_and_their_union(first_run):
    folder, result, _ = first_run
    hulls = [hull_mask(p, W, H) for p in read_openpose_json(folder / "a.json").people]
    assert all(np.array_equal(read_mask(p), h) for p, h in zip(result.subject_masks["a.png"], hulls))
    assert np.array_equal(read_mask(result.masks["a.png"]), union_mask(hulls))


def test_the_poses_used_are_the_users_json(first_run):
    folder, result, _ = first_run
    assert result.poses == {"a.png": folder / "a.json", "b.jpg": folder / "b.json"}


def test_contact_sheet_has_a_row_per_exemplar_with_every_panel(first_run):
    _, result, _ = first_run
    panels = 4 + 2 * 2  # overlay, two skeleton maps, masks, then two stage-1 images per subject
    gap, label, background = CONTACT_LAYOUT.gap, CONTACT_LAYOUT.label_height, CONTACT_LAYOUT.background
    row = label + CONTACT_CELL + gap
    with Image.open(result.contact_sheet) as sheet:
        assert sheet.size == (gap + panels * (CONTACT_CELL + gap), label + gap + 2 * row)
        pixels = np.asarray(sheet.convert("RGB"))
    for r in range(2):
        top = label + gap + r * row + label
        for c in range(panels):
            left = gap + c * (CONTACT_CELL + gap)
            cell = pixels[top : top + CONTACT_CELL, left : left + CONTACT_CELL]
            assert not (cell == background).all(), f"row {r}, panel {c} is empty"


def test_training_uses_the_prepared_masks(first_run):
    folder, result, _ = first_run
    interaction = with_prepared(load_interaction(folder), result.out)
    assert {e.image.name: e.mask for e in interaction.exemplars} == result.masks


# ---- the cache -----------------------------------------------------------------------------------


def test_a_second_run_takes_everything_from_the_cache(copied, pose_host):
    before = len(pose_host.calls)
    result = prepare(pose_host, copied, PrepareOptions(**FAST))
    assert len(pose_host.calls) == before and result.made == {}
    assert len(load_subject_images(result.stage1)["p1"]) == 4


def test_a_changed_pose_redoes_only_what_depends_on_it(copied, pose_host):
    reaching = [(30, 22, 1) if i == 4 else joint for i, joint in enumerate(RIGHT)]  # O2's right wrist moves
    (copied / "a.json").write_text(json.dumps(pose_json(LEFT, reaching)))
    before = len(pose_host.calls)
    result = prepare(pose_host, copied, PrepareOptions(**FAST))
    assert result.made == {"skeletons": 1, "masks": 3, "images": 2}  # a.png's O2 map, both masks + union, O2 images
    assert [kw["pose_image"] is not None for _, kw in pose_host.calls[before:]] == [True, True]
    assert len(list((copied / "prepared" / "stage1" / "p2").glob("*.png"))) == 4  # the old O2 images are gone


def test_a_stopped_run_keeps_its_images_and_the_next_run_makes_only_the_rest(copied, pose_host):
    options = PrepareOptions(**{**FAST, "per_subject": 3})
    before = len(pose_host.calls)
    # Steps: 2 poses, 2 analyses, then a.png's O1 images 0, 1 (cached) and 2 (new): stop after it.
    with pytest.raises(TrainingInterrupted, match="Run it again to continue"):
        prepare(pose_host, copied, options, RecordingJob(stop_after=7))
    assert len(pose_host.calls) == before + 1
    result = prepare(pose_host, copied, options)
    assert len(pose_host.calls) == before + 4 and result.made == {"images": 3}  # one new image per subject
    assert len(load_subject_images(result.stage1)["p2"]) == 6


# ---- poses: detection, assignment, errors -----------------------------------------------------


def test_detected_poses_are_cached_exported_and_listed_when_not_two_people(tmp_path, counted_detector):
    folder = write_folder(tmp_path / "kneel", poses={"a.png": pose_json(LEFT), "b.jpg": None})
    options = PrepareOptions(source="crops", detector="counted", annotator=None)
    for _ in range(2):
        with pytest.raises(PeopleCountError) as caught:
            prepare(None, folder, options)
        assert caught.value.problems == {
            "a.png": f"1 person found; provide a pose JSON with both subjects (poses read from {folder / 'a.json'})",
            "b.jpg": "0 people found; provide a pose JSON with both subjects "
                     f"(detected poses saved in {folder / 'prepared' / 'poses' / 'b.json'})",
        }
    assert counted_detector == [(W, H)]  # the second run took the detection from the cache
    exported = read_openpose_json(folder / "prepared" / "poses" / "b.json")
    assert (exported.canvas_width, exported.canvas_height, exported.people) == (W, H, ())


def test_a_fixed_pose_beside_the_image_is_used_instead_of_the_detection(tmp_path, counted_detector):
    folder = write_folder(tmp_path / "kneel", poses={"a.png": pose_json(LEFT, RIGHT), "b.jpg": None})
    options = PrepareOptions(source="crops", detector="counted", per_subject=1, resolution=32)
    with pytest.raises(PeopleCountError):
        prepare(None, folder, options)
    (folder / "b.json").write_text(json.dumps(pose_json(LEFT, RIGHT)))
    result = prepare(None, folder, options)
    assert result.poses["b.jpg"] == folder / "b.json" and len(counted_detector) == 1
    assert not (folder / "prepared" / "poses" / "b.json").exists()  # the stale export is pruned


def test_the_real_one_person_photo_stops_with_its_count(tmp_path, counted_detector):
    """scikit-image's astronaut is one real person; random weights find nobody, so both images are listed."""
    photos = {"astronaut.png": Image.fromarray(skimage.data.astronaut()),
              "coffee.png": Image.fromarray(skimage.data.coffee())}
    folder = write_folder(tmp_path / "one", poses={}, images=photos)
    with pytest.raises(PeopleCountError, match=r"(?s)astronaut.png: 0 people found.*coffee.png: 0 people found"
                                               r".*provide its OpenPose JSON.*\"people\": \[i, j\]"):
        prepare(None, folder, PrepareOptions(source="crops", detector="counted"))


def test_interaction_json_picks_the_subjects_among_three_people(tmp_path, pose_host):
    spec = {"subjects": ["man", "woman"], "images": {"a.png": {"people": [2, 0]}}}
    folder = write_folder(tmp_path / "kneel", spec=spec, poses={"a.png": pose_json(LEFT, RIGHT, FAR_RIGHT),
                                                                "b.jpg": pose_json(LEFT, RIGHT)})
    result = prepare(None, folder, PrepareOptions(source="crops", per_subject=1, resolution=32))
    people = read_openpose_json(folder / "a.json").people
    for person, path in zip((people[2], people[0]), result.skeletons["a.png"]):
        with Image.open(path) as skeleton:
            assert np.array_equal(np.asarray(skeleton.convert("RGB")), np.asarray(subject_skeleton(person, (W, H), 512)))


def test_a_pick_outside_the_people_is_reported(tmp_path):
    spec = {"subjects": ["man", "woman"], "images": {"a.png": {"people": [0, 5]}}}
    folder = write_folder(tmp_path / "kneel", spec=spec)
    with pytest.raises(PeopleCountError, match=r"a.png: 2 people found, but the chosen people \[0, 5\]"):
        prepare(None, folder, PrepareOptions(source="crops"))


# ---- other bad input ---------------------------------------------------------------------------


def test_a_model_without_controlnet_is_refused_before_any_work(tmp_path, host):
    folder = write_folder(tmp_path / "kneel")
    with pytest.raises(InterInvError, match="(?s)needs an openpose ControlNet.*--controlnet.*--source crops"):
        prepare(host, folder)
    assert not (folder / "prepared").exists()


@pytest.mark.parametrize("options, message", [
    (dict(per_subject=0), "'per_subject' must be a whole number of at least 1"),
    (dict(source="photos"), "Unknown stage-1 source 'photos'"),
    (dict(sam="missing.pth"), "SAM checkpoint 'missing.pth' does not exist. Give the path of sam_vit_b_01ec64.pth"),
    (dict(sam="missing.pth", sam_type="vit_x"), "Unknown SAM model type 'vit_x'"),
])
def test_bad_options_are_refused_naming_the_option(tmp_path, options, message):
    folder = write_folder(tmp_path / "kneel")
    with pytest.raises(InterInvError, match=message):
        prepare(None, folder, PrepareOptions(**{"source": "crops", **options}))


def test_the_exemplar_folder_itself_is_refused_as_output(tmp_path):
    folder = write_folder(tmp_path / "kneel")
    with pytest.raises(InterInvError, match="must not be the exemplar folder .* Leave it out to use .*prepared"):
        prepare(None, folder, PrepareOptions(source="crops"), out=folder)


def test_an_unknown_detector_is_named_when_an_image_needs_detection(tmp_path):
    folder = write_folder(tmp_path / "kneel", poses={"a.png": pose_json(LEFT, RIGHT), "b.jpg": None})
    with pytest.raises(InterInvError, match="Unknown pose detector 'vitpose'. Choose one of: .*openpose"):
        prepare(None, folder, PrepareOptions(source="crops", detector="vitpose"))


def test_a_broken_pose_json_names_the_file(tmp_path):
    broken = pose_json(LEFT, RIGHT)
    broken["people"][1]["pose_keypoints_2d"] = broken["people"][1]["pose_keypoints_2d"][:-3]
    folder = write_folder(tmp_path / "kneel", poses={"a.png": pose_json(LEFT, RIGHT), "b.jpg": broken})
    with pytest.raises(InterInvError, match=r"b.json', people\[1\]: `pose_keypoints_2d` has 51 numbers; expected 54"):
        prepare(None, folder, PrepareOptions(source="crops"))


# ---- SAM, crops, train ----------------------------------------------------------------------------


def test_sam_masks_the_subjects_where_the_user_gave_no_mask(tmp_path, sam_checkpoint):
    folder = write_folder(tmp_path / "kneel")
    Image.new("L", (W, H), 255).save(folder / "b.mask.png")  # b.jpg has its own mask: no SAM pass for it
    result = prepare(None, folder, PrepareOptions(source="crops", per_subject=1, resolution=32, sam=str(sam_checkpoint)))
    manifest = json.loads((result.out / "prepare.json").read_text())["exemplars"]
    assert {name: entry["mask_source"] for name, entry in manifest.items()} == {"a.png": "sam", "b.jpg": "file"}
    assert result.masks["b.jpg"] == folder / "b.mask.png"
    people = read_openpose_json(folder / "a.json").people
    for path, person in zip(result.subject_masks["a.png"], people):
        assert not (read_mask(path) & ~box_mask(person_box(person, SAM_BOX_PAD), W, H)).any()


def test_crops_cut_each_subject_from_its_exemplar_without_a_model(tmp_path):
    folder = write_folder(tmp_path / "kneel")
    result = prepare(None, folder, PrepareOptions(source="crops", per_subject=2, resolution=32))
    entries = json.loads((result.stage1 / "stage1.json").read_text())
    assert [len(entries[r]) for r in ("p1", "p2")] == [4, 4] and {e["source"] for e in entries["p1"]} == {"crops"}


def test_train_runs_prepare_when_there_are_no_stage1_images(tmp_path, pose_host, small_config, job):
    from interinv.engine.run import TrainRequest, run

    folder = write_folder(tmp_path / "kneel")
    request = TrainRequest(folder, tmp_path / "out", config=small_config, name=small_config.name, work=tmp_path / "work",
                           prepare=PrepareOptions(**FAST))
    manifest = run(pose_host, request, job).manifest
    assert (folder / "prepared" / "stage1" / "stage1.json").is_file() and manifest.is_file()
    assert (tmp_path / "work" / "state").is_dir() and not (tmp_path / "out" / ".interinv").exists()


def test_the_prepare_command_writes_stage1_images_and_contact_sheet(tmp_path, capsys):
    from interinv.cli import main

    folder = write_folder(tmp_path / "kneel")
    args = ["prepare", str(folder), "--model", "interinv:tiny", "--out", str(tmp_path / "p"), "--per-subject", "1",
            "--sample-steps", "1", "--quiet"]
    assert main(args) == 0
    assert "contact sheet" in capsys.readouterr().out and (tmp_path / "p" / "contact_sheet.png").is_file()
    assert len(load_subject_images(tmp_path / "p" / "stage1")["p1"]) == 2
