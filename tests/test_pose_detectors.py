"""The pose detector registry and its OpenPose entry, with random OpenPose weights on disk."""

import pytest
import skimage.data
from PIL import Image

from interinv.data import pose_detectors
from interinv.errors import InterInvError
from interinv.data.pose import PeopleCountError, Person, PoseImage, assign_all, read_openpose_json, write_openpose_json
from interinv.data.pose_detectors import OpenposeBodyDetector, detector_names, get_detector, register_detector


@pytest.fixture(scope="module")
def openpose_detector(openpose_folder):
    detector = get_detector("openpose", openpose_folder)
    detector.detect_resolution = 128  # keeps the random-weight pass short
    return detector


@pytest.fixture(scope="module")
def astronaut_people(openpose_detector):
    """What the random-weight detector finds on scikit-image's astronaut photo (one real person)."""
    return openpose_detector(Image.fromarray(skimage.data.astronaut()))


@pytest.fixture
def own_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(pose_detectors, "_REGISTRY", dict(pose_detectors._REGISTRY))


def test_openpose_is_registered():
    assert "openpose" in detector_names()


def test_openpose_detector_loads_from_a_local_folder(openpose_detector):
    assert isinstance(openpose_detector, OpenposeBodyDetector)


def test_openpose_detector_gives_persons_for_a_real_photo(astronaut_people):
    assert isinstance(astronaut_people, list) and all(isinstance(p, Person) for p in astronaut_people)


def test_detected_people_export_as_openpose_json(astronaut_people, tmp_path):
    detected = PoseImage(512, 512, tuple(astronaut_people))
    assert read_openpose_json(write_openpose_json(tmp_path / "astronaut.json", detected)) == detected


def test_a_photo_without_two_detected_people_stops_with_its_count(astronaut_people):
    assert len(astronaut_people) != 2  # random weights find no one (seeded), the photo has one person
    with pytest.raises(PeopleCountError, match=f"astronaut.png: {len(astronaut_people)} (person|people) found"):
        assign_all({"astronaut.png": astronaut_people})


def test_openpose_folder_without_weights_lists_the_missing_files(tmp_path):
    (tmp_path / "body_pose_model.pth").write_bytes(b"")
    with pytest.raises(InterInvError, match="is missing hand_pose_model.pth, facenet.pth"):
        get_detector("openpose", tmp_path)


def test_unreachable_hub_id_says_how_to_fix_it():
    with pytest.raises(InterInvError, match="(?s)not a folder and could not be fetched.*provide an OpenPose JSON"):
        get_detector("openpose", "no-such-user/no-such-annotators")


def test_unknown_detector_names_the_choices():
    with pytest.raises(InterInvError, match="Unknown pose detector 'vitpose'. Choose one of: .*openpose"):
        get_detector("vitpose")


def test_a_registered_detector_is_built_by_get_detector(own_registry, tmp_path):
    """A detector that reads poses prepared elsewhere stands in for a future ViTPose entry."""
    person = Person(((0.25, 0.5),) + (None,) * 17)
    write_openpose_json(tmp_path / "poses.json", PoseImage(64, 64, (person,)))

    def from_json(location, device):
        return lambda image: list(read_openpose_json(location).people)

    register_detector("json", from_json)
    detector = get_detector("json", tmp_path / "poses.json")
    assert detector(Image.new("RGB", (64, 64))) == [person]


def test_a_taken_name_cannot_be_registered_again(own_registry):
    with pytest.raises(ValueError, match="'openpose' is already registered"):
        register_detector("openpose", pose_detectors.load_openpose)
