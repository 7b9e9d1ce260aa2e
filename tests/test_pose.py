"""OpenPose JSON in/out, subject assignment, recentring and drawing, on hand-written poses."""

import json

import numpy as np
import pytest

from interinv.compat import import_controlnet_aux
from interinv.errors import InterInvError
from interinv.data.pose import (
    NUM_KEYPOINTS,
    PeopleCountError,
    Person,
    PoseImage,
    assign_all,
    assign_subjects,
    draw_skeleton,
    from_pose_result,
    person_box,
    read_openpose_json,
    recentre,
    subject_skeleton,
    to_pose_result,
    write_openpose_json,
)

open_pose = import_controlnet_aux("controlnet_aux.open_pose")
BodyResult, Keypoint, PoseResult, draw_poses = (open_pose.BodyResult, open_pose.Keypoint, open_pose.PoseResult,
                                                open_pose.draw_poses)

WIDTH, HEIGHT = 640, 480
# A standing person on the left and a kneeling one on the right, in pixels, OpenPose-18 order.
STANDING = [
    (160, 80), (160, 120), (135, 120), (125, 170), (120, 215), (185, 120), (195, 170), (200, 215),
    (145, 230), (143, 310), (142, 390), (175, 230), (177, 310), (178, 390), (155, 72), (165, 72),
    (148, 76), (172, 76),
]
KNEELING = [
    (420, 200), (420, 240), (395, 240), (380, 280), (360, 300), (445, 240), (455, 285), (440, 300),
    (405, 340), (400, 420), (460, 430), (435, 340), (430, 420), (480, 430), (415, 192), (425, 192),
    None, None,
]
R_WRIST, L_EAR = 4, 17


def flat_triples(points, missing=(0, 0, 0)):
    flat = []
    for p in points:
        flat += list(missing) if p is None else [p[0], p[1], 1.0]
    return flat


def normalised(points):
    return Person(tuple(None if p is None else (p[0] / WIDTH, p[1] / HEIGHT) for p in points))


def pose_file(path, people, canvas=True, **extra):
    """An OpenPose JSON file with these `people` entries, on the WIDTH x HEIGHT canvas if canvas."""
    data = {"people": people, **extra}
    if canvas:
        data.update(canvas_width=WIDTH, canvas_height=HEIGHT)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def pixel_json(tmp_path):
    """Two people in pixels, as the openpose editor saves them, with hands, face and animals keys."""
    people = [
        {"pose_keypoints_2d": flat_triples(STANDING), "hand_left_keypoints_2d": [1.0] * 63,
         "hand_right_keypoints_2d": None, "face_keypoints_2d": None},
        {"pose_keypoints_2d": flat_triples(KNEELING, missing=(-1, -1, 0))},
    ]
    return pose_file(tmp_path / "pose.json", people, animals=[[1.0] * 51])


# ---- JSON -------------------------------------------------------------------------------------


def test_pixel_json_reads_as_normalised_keypoints(pixel_json):
    pose = read_openpose_json(pixel_json)
    assert pose == PoseImage(WIDTH, HEIGHT, (normalised(STANDING), normalised(KNEELING)))


def test_normalised_json_with_missing_joints_round_trips_equal(tmp_path):
    pose = PoseImage(WIDTH, HEIGHT, (normalised(STANDING), normalised(KNEELING)))
    write_openpose_json(tmp_path / "out.json", pose)
    assert read_openpose_json(tmp_path / "out.json") == pose


def test_pixel_json_round_trips_equal_after_first_read(pixel_json, tmp_path):
    pose = read_openpose_json(pixel_json)
    write_openpose_json(tmp_path / "again.json", pose)
    assert read_openpose_json(tmp_path / "again.json") == pose


def test_written_json_follows_controlnet_conventions(tmp_path):
    pose = PoseImage(WIDTH, HEIGHT, (normalised(KNEELING),))
    data = json.loads(write_openpose_json(tmp_path / "out.json", pose).read_text())
    triples = np.array(data["people"][0]["pose_keypoints_2d"]).reshape(NUM_KEYPOINTS, 3)
    assert (data["canvas_width"], data["canvas_height"]) == (WIDTH, HEIGHT)
    assert triples[0].tolist() == [420 / WIDTH, 200 / HEIGHT, 1.0]
    assert triples[L_EAR].tolist() == [0.0, 0.0, 0.0]


def test_joints_outside_the_canvas_round_trip_in_pixels(tmp_path):
    outside = [(-30, 100)] + STANDING[1:]
    pose = PoseImage(WIDTH, HEIGHT, (normalised(outside),))
    back = read_openpose_json(write_openpose_json(tmp_path / "out.json", pose))
    assert np.array(back.people[0].keypoints) == pytest.approx(np.array(pose.people[0].keypoints), abs=1e-12)


@pytest.mark.parametrize("triple", [(0.3, 0.4, 0.5), (0, 0, 1), (-1, -1, 1)], ids=["low-c", "zero", "minus-one"])
def test_low_confidence_and_marker_joints_are_missing(tmp_path, triple):
    flat = flat_triples(STANDING)
    flat[3 * R_WRIST : 3 * R_WRIST + 3] = triple
    path = pose_file(tmp_path / "p.json", [{"pose_keypoints_2d": flat}])
    assert read_openpose_json(path).people[0].keypoints[R_WRIST] is None


def test_person_without_visible_joints_is_dropped(tmp_path):
    people = [{"pose_keypoints_2d": flat_triples(STANDING)}, {"pose_keypoints_2d": [0.0] * 54}]
    path = pose_file(tmp_path / "p.json", people)
    assert read_openpose_json(path).people == (normalised(STANDING),)


def test_wrong_keypoint_count_names_the_file_and_person(tmp_path):
    people = [{"pose_keypoints_2d": flat_triples(STANDING)}, {"pose_keypoints_2d": [1.0] * 75}]
    path = pose_file(tmp_path / "body25.json", people)
    with pytest.raises(InterInvError, match=r"body25\.json', people\[1\]: .* has 75 numbers; expected 54"):
        read_openpose_json(path)


def test_missing_canvas_size_is_asked_for(tmp_path):
    path = pose_file(tmp_path / "nocanvas.json", [{"pose_keypoints_2d": flat_triples(STANDING)}], canvas=False)
    with pytest.raises(InterInvError, match="nocanvas.json' has no `canvas_width`/`canvas_height`"):
        read_openpose_json(path)


def test_canvas_size_argument_fills_in_a_missing_canvas(tmp_path):
    path = pose_file(tmp_path / "nocanvas.json", [{"pose_keypoints_2d": flat_triples(STANDING)}], canvas=False)
    assert read_openpose_json(path, canvas_size=(WIDTH, HEIGHT)).people == (normalised(STANDING),)


def test_broken_json_error_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{people: [", encoding="utf-8")
    with pytest.raises(InterInvError, match="broken.json' is not valid JSON"):
        read_openpose_json(path)


# ---- boxes and subjects -----------------------------------------------------------------------


def test_person_box_spans_the_visible_joints(pixel_json):
    kneeling = read_openpose_json(pixel_json).people[1]
    assert person_box(kneeling) == pytest.approx((360 / WIDTH, 192 / HEIGHT, 480 / WIDTH, 430 / HEIGHT))


def test_person_box_padding_stays_inside_the_frame():
    corner = Person(((0.05, 0.1), (0.25, 0.9)) + (None,) * 16)
    assert person_box(corner, pad=0.5) == pytest.approx((0.0, 0.0, 0.35, 1.0))


def test_subjects_default_to_left_then_right():
    left, right = normalised(STANDING), normalised(KNEELING)
    assert assign_subjects([right, left]) == (left, right)


def test_order_picks_the_subjects_among_more_people():
    people = [normalised(KNEELING), normalised(STANDING), recentre(normalised(STANDING))]
    assert assign_subjects(people, order=(2, 0)) == (people[2], people[0])


def test_people_count_error_lists_every_image_with_its_count():
    two = [normalised(STANDING), normalised(KNEELING)]
    by_image = {"a.jpg": [], "b.jpg": two[:1], "c.jpg": two, "d.jpg": two + two[:1]}
    with pytest.raises(PeopleCountError) as caught:
        assign_all(by_image)
    message = str(caught.value)
    assert set(caught.value.problems) == {"a.jpg", "b.jpg", "d.jpg"}
    for line in ("a.jpg: 0 people found", "b.jpg: 1 person found", "d.jpg: 3 people found"):
        assert line in message


def test_people_count_error_says_how_to_fix_it():
    with pytest.raises(PeopleCountError, match="(?s)provide its OpenPose JSON.*pick the two people"):
        assign_subjects([normalised(STANDING)], image="solo.png")


def test_an_order_outside_the_people_is_reported():
    people = [normalised(STANDING), normalised(KNEELING), normalised(KNEELING)]
    with pytest.raises(PeopleCountError, match=r"x.jpg: 3 people found, but the chosen people \[0, 3\]"):
        assign_all({"x.jpg": people}, {"x.jpg": (0, 3)})


# ---- recentre ---------------------------------------------------------------------------------


def test_recentred_person_fills_the_frame_inside_the_margin():
    x0, y0, x1, y1 = person_box(recentre(normalised(STANDING), 0.1, (WIDTH, HEIGHT), (256, 256)))
    assert (y0, y1) == pytest.approx((0.1, 0.9))  # the tall side touches the margins
    assert (x0 + x1) / 2 == pytest.approx(0.5)


def test_recentre_keeps_the_aspect_in_pixels():
    x0, y0, x1, y1 = person_box(recentre(normalised(STANDING), 0.1, (WIDTH, HEIGHT), (300, 200)))
    assert (x1 - x0) * 300 / ((y1 - y0) * 200) == pytest.approx((200 - 120) / (390 - 72))


def test_recentre_keeps_missing_joints_missing():
    moved = recentre(normalised(KNEELING), 0.05, (WIDTH, HEIGHT), (WIDTH, HEIGHT))
    assert [p is None for p in moved.keypoints] == [p is None for p in KNEELING]


def test_a_single_joint_moves_to_the_centre():
    lone = Person(((0.1, 0.2),) + (None,) * 17)
    assert recentre(lone).keypoints[0] == pytest.approx((0.5, 0.5))


# ---- controlnet_aux ---------------------------------------------------------------------------


def test_person_survives_the_controlnet_aux_pose_result():
    person = normalised(KNEELING)
    assert from_pose_result(to_pose_result(person)) == person


def test_detector_body_result_becomes_a_person():
    keypoints = [Keypoint(np.float32(0.5), np.float32(0.25), 0.9, 3)] + [None] * 17
    body = BodyResult(keypoints=keypoints, total_score=5.0, total_parts=1)
    assert from_pose_result(body) == Person(((0.5, 0.25),) + (None,) * 17)


def test_skeleton_matches_controlnet_aux_draw_poses(pixel_json):
    def by_hand(points):
        keypoints = [None if p is None else Keypoint(p[0] / WIDTH, p[1] / HEIGHT) for p in points]
        return PoseResult(BodyResult(keypoints, 0.0, 0), None, None, None)

    expected = draw_poses([by_hand(STANDING), by_hand(KNEELING)], HEIGHT, WIDTH, draw_hand=False, draw_face=False)
    drawn = draw_skeleton(read_openpose_json(pixel_json).people, WIDTH, HEIGHT)
    assert drawn.size == (WIDTH, HEIGHT)
    assert np.array_equal(np.asarray(drawn), expected)


def test_missing_joint_is_not_drawn():
    without_wrist = list(STANDING)
    without_wrist[R_WRIST] = None
    x, y = STANDING[R_WRIST]
    assert np.asarray(draw_skeleton([normalised(STANDING)], WIDTH, HEIGHT))[y, x].any()
    assert not np.asarray(draw_skeleton([normalised(without_wrist)], WIDTH, HEIGHT))[y, x].any()


def test_subject_skeleton_fills_its_square_map():
    drawn = np.asarray(subject_skeleton(normalised(STANDING), (WIDTH, HEIGHT), 128, margin=0.1)).any(axis=2)
    rows = np.flatnonzero(drawn.any(axis=1))
    assert drawn.shape == (128, 128)
    # joints land on rows 12.8 and 115.2; the joint circles (radius 4) reach a little beyond
    assert 8 <= rows[0] <= 13 and 114 <= rows[-1] <= 120
