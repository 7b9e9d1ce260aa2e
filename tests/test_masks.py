"""Subject masks: SAM box prompts (random vit_b), the skeleton hull, the union and its resizing."""

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from interinv.errors import InterInvError
from interinv.data.masks import (
    box_mask,
    convex_hull,
    hull_mask,
    load_sam,
    mask_at_resolution,
    read_mask,
    sam_masks,
    union_mask,
    write_mask,
)
from interinv.data.pose import Person

MISSING = (None,) * 15
# Three joints on a 100 x 100 canvas: a right triangle with corners (20, 20), (20, 60), (60, 60).
TRIANGLE = Person(((0.2, 0.2), (0.2, 0.6), (0.6, 0.6)) + MISSING)
BOXES = [(0.1, 0.1, 0.5, 0.9), (0.55, 0.2, 0.9, 0.7)]


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(skimage.data.astronaut()).resize((96, 64))


@pytest.fixture(scope="module")
def sam_result(sam_checkpoint, photo):
    """The one SAM pass of the suite: its image encoder takes most of the time on CPU."""
    return sam_masks(photo, BOXES, sam_checkpoint)


# ---- SAM --------------------------------------------------------------------------------------


def test_sam_gives_one_mask_per_box_at_image_size(sam_result):
    assert [(m.shape, m.dtype) for m in sam_result] == [((64, 96), np.dtype(bool))] * len(BOXES)


def test_sam_masks_stay_inside_their_boxes(sam_result):
    for mask, box in zip(sam_result, BOXES):
        assert not (mask & ~box_mask(box, 96, 64)).any()


def test_sam_union_feeds_the_attention_resolution(sam_result):
    probe = mask_at_resolution(union_mask(sam_result), 8)
    assert probe.shape == (8, 8) and 0.0 <= probe.min() and probe.max() <= 1.0


def test_missing_sam_checkpoint_names_the_expected_file(tmp_path):
    with pytest.raises(InterInvError, match="'.*nothere.pth' does not exist. Give the path of sam_vit_b_01ec64.pth"):
        load_sam(tmp_path / "nothere.pth")


def test_sam_checkpoint_of_another_model_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1)}, path)
    with pytest.raises(InterInvError, match="does not hold SAM vit_b weights"):
        load_sam(path)


def test_unknown_sam_model_type_names_the_choices(tmp_path):
    with pytest.raises(InterInvError, match="Unknown SAM model type 'vit_x'. Choose one of: vit_b, vit_l, vit_h"):
        load_sam(tmp_path / "any.pth", model_type="vit_x")


# ---- hull -------------------------------------------------------------------------------------


def test_hull_mask_without_dilation_is_the_triangle():
    mask = hull_mask(TRIANGLE, 100, 100, dilation=0.0)
    assert mask[20, 20] and mask[60, 20] and mask[60, 60] and mask[50, 30]
    assert not mask[30, 50]  # across the hypotenuse
    assert mask.sum() == 41 * 42 // 2  # the pixels with 20 <= x <= y <= 60, edges included


def test_dilation_grows_the_hull_by_the_radius():
    mask = hull_mask(TRIANGLE, 100, 100, dilation=0.25)  # radius 0.25 x 40 px = 10 px
    assert mask[11, 20] and mask[60, 69] and mask[69, 40]
    assert not mask[8, 20] and not mask[60, 72] and not mask[73, 40]


def test_hull_mask_ignores_missing_joints():
    only_two = Person(((0.2, 0.2), None, (0.6, 0.6)) + MISSING)
    assert not hull_mask(only_two, 100, 100, dilation=0.0)[60, 20]


def test_a_lone_joint_gives_a_one_pixel_mask():
    lone = Person(((0.5, 0.5),) + (None,) * 17)
    assert np.argwhere(hull_mask(lone, 10, 10)).tolist() == [[5, 5]]


def test_convex_hull_drops_inner_points():
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    assert sorted(convex_hull(square + [(1.0, 1.0), (1.0, 0.0)])) == sorted(square)


# ---- union, boxes, resolution -----------------------------------------------------------------


def test_union_mask_is_true_where_any_mask_is():
    a, b = np.zeros((2, 3), bool), np.zeros((2, 3), bool)
    a[0, 0], b[1, 2] = True, True
    assert union_mask([a, b]).tolist() == [[True, False, False], [False, False, True]]


def test_masks_of_different_sizes_cannot_be_joined():
    with pytest.raises(InterInvError, match="same size"):
        union_mask([np.zeros((2, 3), bool), np.zeros((3, 2), bool)])


def test_box_mask_covers_the_box_pixels():
    mask = box_mask((0.25, 0.5, 0.75, 1.0), 4, 4)
    assert mask.astype(int).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0]]


def test_mask_at_resolution_averages_the_area():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    mask[2:, 2:] = True
    assert mask_at_resolution(mask, 2).tolist() == [[0.25, 0.0], [0.0, 1.0]]


def test_mask_at_resolution_reads_grey_images_as_coverage():
    grey = Image.fromarray(np.full((6, 6), 255, np.uint8)).convert("L")
    probe = mask_at_resolution(grey, 3)
    assert probe.dtype == torch.float32 and torch.equal(probe, torch.ones(3, 3))


# ---- files ------------------------------------------------------------------------------------


def test_written_mask_reads_back_equal(tmp_path):
    mask = hull_mask(TRIANGLE, 100, 80)
    write_mask(tmp_path / "a.mask.png", mask)
    assert np.array_equal(read_mask(tmp_path / "a.mask.png"), mask)


def test_read_mask_resizes_to_the_image_of_the_same_shape(tmp_path):
    write_mask(tmp_path / "m.png", np.ones((10, 20), bool))
    assert read_mask(tmp_path / "m.png", size=(40, 20)).shape == (20, 40)


def test_unreadable_mask_names_the_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InterInvError, match="bad.png' cannot be read as an image"):
        read_mask(tmp_path / "bad.png")
