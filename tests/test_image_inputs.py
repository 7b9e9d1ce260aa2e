"""Exemplar inputs that used to be read wrongly without a word: each is now read right or refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from interinv.errors import InterInvError
from interinv.data.exemplars import Exemplar, load_image, load_interaction
from interinv.data.masks import probe_mask, read_mask
from interinv.data.pose import NUM_KEYPOINTS, read_openpose_json

SIDE = 64


def _gradient16(path):
    """A 16-bit grayscale PNG (Pillow mode I;16): black at the left edge, white at the right."""
    values = np.tile(np.linspace(0, 65535, SIDE), (SIDE, 1)).astype(np.uint16)
    Image.fromarray(values).save(path)
    with Image.open(path) as image:
        assert image.mode == "I;16"
    return path


def _person(x0: float, x1: float) -> list[float]:
    """18 OpenPose joints spread over x0..x1 (normalised) and the full height."""
    xs, ys = np.linspace(x0, x1, NUM_KEYPOINTS), np.linspace(0.1, 0.9, NUM_KEYPOINTS)
    return [v for x, y in zip(xs, ys) for v in (float(x), float(y), 1.0)]


def _pose(path, people, width=SIDE, height=SIDE):
    path.write_text(json.dumps({"canvas_width": width, "canvas_height": height,
                                "people": [{"pose_keypoints_2d": p} for p in people]}))
    return path


def _exemplar(tmp_path, pose=None, mask=None):
    image = tmp_path / "a.png"
    Image.new("RGB", (SIDE, SIDE), "gray").save(image)
    return Exemplar(image, ("man", "woman"), ("{o1} {p1} {r} {o2} {p2}",), pose=pose, mask=mask)


def test_a_16_bit_grayscale_png_keeps_its_shades(tmp_path):
    image = np.asarray(load_image(_gradient16(tmp_path / "g16.png")))
    assert image.shape == (SIDE, SIDE, 3)
    assert image[:, 0].max() == 0 and image[:, -1].min() == 255 and abs(image.mean() - 127.5) < 1


def test_a_16_bit_grayscale_mask_keeps_its_black_half(tmp_path):
    mask = read_mask(_gradient16(tmp_path / "a.mask.png"))
    assert not mask[:, : SIDE // 2 - 1].any() and mask[:, SIDE // 2 + 1 :].all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_pose_json_with_nan_coordinates_is_refused_by_name(tmp_path, bad):
    left = _person(0.05, 0.4)
    left[3] = bad
    path = tmp_path / "nan.json"
    path.write_text(json.dumps({"canvas_width": SIDE, "canvas_height": SIDE,
                                "people": [{"pose_keypoints_2d": left}, {"pose_keypoints_2d": _person(0.6, 0.95)}]}))
    with pytest.raises(InterInvError, match=r"nan.json', people\[0\]: .*finite numbers.*got (nan|inf)"):
        probe_mask(_exemplar(tmp_path, pose=path), 8)


def test_a_pose_canvas_of_another_shape_than_its_image_is_refused(tmp_path):
    pose = _pose(tmp_path / "wide.json", [_person(0.05, 0.4), _person(0.6, 0.95)], width=5000, height=300)
    with pytest.raises(InterInvError, match="wide.json' was drawn on a 5000x300 canvas, but its image is 64x64"):
        probe_mask(_exemplar(tmp_path, pose=pose), 8)


def test_a_pose_canvas_scaled_from_its_image_still_masks_the_people(tmp_path):
    pose = _pose(tmp_path / "big.json", [_person(0.0, 0.2), _person(0.3, 0.5)], width=512, height=512)
    mask = probe_mask(_exemplar(tmp_path, pose=pose), 8)
    assert mask[:, :4].sum() > 0 and mask[:, 5:].sum() == 0  # the people stand in the left half


def test_a_mask_of_another_shape_than_its_image_is_refused_not_stretched(tmp_path):
    mask = tmp_path / "a.mask.png"
    Image.new("L", (SIDE, SIDE // 2), 255).save(mask)
    with pytest.raises(InterInvError, match="a.mask.png' is 64x32, but its image is 64x64"):
        probe_mask(_exemplar(tmp_path, mask=mask), 8)


def test_a_mask_at_half_the_image_size_is_scaled_up(tmp_path):
    mask = tmp_path / "a.mask.png"
    half = np.zeros((SIDE // 2, SIDE // 2), dtype=np.uint8)
    half[:, : SIDE // 4] = 255
    Image.fromarray(half).save(mask)
    probe = probe_mask(_exemplar(tmp_path, mask=mask), 8)
    assert probe[:, :4].min() == 1 and probe[:, 4:].max() == 0


def test_an_animated_gif_in_the_folder_is_refused_by_name(tmp_path):
    for name in ("a.png", "b.png"):
        Image.new("RGB", (SIDE, SIDE), "gray").save(tmp_path / name)
    frames = [Image.new("RGB", (SIDE, SIDE), (80 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "wave.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "interaction.json").write_text(json.dumps({"subjects": ["man", "woman"]}))
    exemplars = load_interaction(tmp_path).exemplars
    assert [e.image.name for e in exemplars] == ["a.png", "b.png", "wave.gif"]
    with pytest.raises(InterInvError, match="wave.gif' is animated \\(3 frames\\).*as a PNG"):
        load_image(exemplars[2].image)


def test_a_still_gif_is_an_exemplar_like_any_other(tmp_path):
    Image.new("RGB", (SIDE, SIDE), (200, 10, 10)).convert("P").save(tmp_path / "still.gif")
    assert load_image(tmp_path / "still.gif").getpixel((3, 3))[0] > 150
