import json
import os
import shutil

import pytest
from PIL import Image

from interinv.errors import InterInvError
from interinv.data.exemplars import image_sizes, load_image, load_interaction, write_spec_template
from interinv.hosts.base import ImageSize


def _folder(tmp_path, count=2, spec=None):
    for i in range(count):
        Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "interaction.json").write_text(json.dumps(spec if spec is not None else {"subjects": ["man", "woman"]}))
    return tmp_path


def test_exif_rotated_images_are_turned_upright(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    image.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (20, 40)


def test_size_conditioning_is_the_upright_file_size_as_height_width(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "plain.png")
    rotated = Image.new("RGB", (40, 20))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(tmp_path / "r.jpg", exif=exif)
    sizes = image_sizes([tmp_path / "plain.png", tmp_path / "r.jpg"], (64, 48))
    assert sizes == [ImageSize(original=(30, 40), target=(48, 64)), ImageSize(original=(40, 20), target=(48, 64))]
    assert sizes[0].crop_top_left == (0, 0)  # whole images are resized, never cropped


def test_rgba_is_flattened_onto_white_and_grayscale_becomes_rgb(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "a.png")
    Image.new("L", (4, 4), 128).save(tmp_path / "g.png")
    assert load_image(tmp_path / "a.png").getpixel((0, 0)) == (255, 255, 255)
    gray = load_image(tmp_path / "g.png")
    assert gray.mode == "RGB" and gray.getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n broken"])
def test_corrupt_or_unsupported_images_name_the_file(tmp_path, content):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(InterInvError, match="bad.png"):
        load_image(tmp_path / "bad.png")


def test_missing_images_name_the_file(tmp_path):
    with pytest.raises(InterInvError, match="nothere.png' does not exist"):
        load_image(tmp_path / "nothere.png")


def test_fewer_than_two_exemplars_is_an_error(tmp_path):
    with pytest.raises(InterInvError, match="1 exemplar image.*at least 2"):
        load_interaction(_folder(tmp_path, count=1))


def test_a_template_without_subject_slots_is_an_error_naming_the_field(tmp_path):
    spec = {"subjects": ["man", "woman"], "templates": ["a photo of {p1} {r} {p2}"]}
    with pytest.raises(InterInvError, match=r"'templates'.*lacks the slots \{o1\}, \{o2\}"):
        load_interaction(_folder(tmp_path, spec=spec))


def test_missing_interaction_json_says_how_to_create_it(tmp_path):
    _folder(tmp_path)
    os.remove(tmp_path / "interaction.json")
    with pytest.raises(InterInvError, match="interinv init"):
        load_interaction(tmp_path)


def test_per_image_entries_override_subjects_and_find_poses_and_masks(tmp_path):
    spec = {"subjects": ["man", "woman"], "images": {"1.png": {"subjects": ["cat", "dog"], "people": [1, 0]}}}
    folder = _folder(tmp_path, spec=spec)
    Image.new("L", (40, 30)).save(folder / "0.mask.png")
    (folder / "0.json").write_text("{}")
    interaction = load_interaction(folder)
    first, second = interaction.exemplars
    assert first.subjects == ("man", "woman") and first.mask == folder / "0.mask.png" and first.pose == folder / "0.json"
    assert second.subjects == ("cat", "dog") and second.people == (1, 0)


def test_init_writes_a_template_that_loads(tmp_path):
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.jpg")
    write_spec_template(tmp_path, ("man", "woman"))
    assert len(load_interaction(tmp_path).exemplars) == 3
    with pytest.raises(InterInvError, match="already exists"):
        write_spec_template(tmp_path)


def test_an_unwritable_output_folder_fails_before_training(tmp_path):
    from interinv.engine.run import ensure_writable

    target = tmp_path / "file-not-folder"
    target.write_text("x")
    with pytest.raises(InterInvError, match="Cannot write to the output folder"):
        ensure_writable(target / "out")


def test_atomic_writes_get_the_umask_mode_not_owner_only(tmp_path):
    from interinv.atomic import write_text_atomic

    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
