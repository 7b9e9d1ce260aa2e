"""The four metrics: arithmetic on hand-made numbers, pose classifiers on synthetic poses, CLIP code paths."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from share_helpers import DESCRIPTION, SLUG, TEMPLATE

from interinv.errors import InterInvError
from interinv.eval.clip import OpenClipEncoder, TransformersClipEncoder, load_clip
from interinv.eval.evaluate import evaluate, format_report
from interinv.eval.metrics import (
    CLIP_S,
    CLIP_T,
    POSE_KP,
    POSE_S,
    accuracy_scores,
    clip_s_text,
    clip_t_text,
    mean_ci95,
    pair_scores,
    subjects_from_prompt,
)
from interinv.eval.samples import EvalSample, collect_samples
from interinv.formats.infotext import save_png
from interinv.formats.manifest import MANIFEST_FORMAT, check_manifest
from interinv.data.pose import Person, PoseImage, write_openpose_json
from interinv.eval.pose_classifiers import (
    CLASSIFIER_FORMAT,
    PoseClassifierConfig,
    PoseKPClassifier,
    PoseSVM,
    keypoint_array,
    load_classifier,
    normalized_adjacency,
    pose_features,
    save_classifier,
    train_from_folder,
    train_pose_gcn,
    train_pose_svm,
)

NAMES = {"p1": f"{SLUG}_p1", "r": f"{SLUG}_r", "p2": f"{SLUG}_p2"}
MANIFEST = check_manifest(
    {"format": MANIFEST_FORMAT, "slug": SLUG, "template": TEMPLATE, "description": DESCRIPTION, "family": "sd1",
     "architecture": "stable-diffusion-v1/textual-inversion", "subjects": ["man", "woman"],
     "embedding_dims": {"clip_l": 768},
     "tokens": {role: {"name": name, "file": f"{name}.safetensors", "sha256": "0" * 64, "vectors": 1}
                for role, name in NAMES.items()}},
    Path(f"{SLUG}.interaction.json"))
FAST = PoseClassifierConfig(epochs=150)


# ---- synthetic two-person poses ------------------------------------------------------------------


def _person(cx: float, left_wrist, right_wrist, rng: np.random.Generator) -> Person:
    """A standing OpenPose-18 skeleton centred at x=cx with the given wrist positions, plus noise."""
    shoulder_y, hip_y = 0.3, 0.55
    r_sh, l_sh = (cx - 0.06, shoulder_y), (cx + 0.06, shoulder_y)
    r_wr, l_wr = right_wrist, left_wrist
    points = [
        (cx, 0.2), (cx, shoulder_y), r_sh, ((r_sh[0] + r_wr[0]) / 2, (r_sh[1] + r_wr[1]) / 2 + 0.03), r_wr,
        l_sh, ((l_sh[0] + l_wr[0]) / 2, (l_sh[1] + l_wr[1]) / 2 + 0.03), l_wr,
        (cx - 0.04, hip_y), (cx - 0.04, 0.7), (cx - 0.04, 0.85), (cx + 0.04, hip_y), (cx + 0.04, 0.7),
        (cx + 0.04, 0.85), (cx - 0.02, 0.18), (cx + 0.02, 0.18), (cx - 0.035, 0.19), (cx + 0.035, 0.19),
    ]
    noisy = [(x + rng.normal(0, 0.008), y + rng.normal(0, 0.008)) for x, y in points]
    noisy[16 + int(rng.integers(2))] = None  # one ear is often hidden
    return Person(tuple(noisy))


def synthetic_pair(kind: str, rng: np.random.Generator) -> tuple[Person, Person]:
    """'hug': close, arms around each other at the shoulders; 'handshake': apart, hands meeting low in the middle."""
    shift = rng.uniform(-0.1, 0.1)
    if kind == "hug":
        a, b = 0.44 + shift, 0.56 + shift
        return (_person(a, (b + 0.05, 0.33), (a - 0.07, 0.5), rng),
                _person(b, (b + 0.07, 0.5), (a - 0.05, 0.33), rng))
    a, b = 0.3 + shift, 0.7 + shift
    middle = (a + b) / 2
    return (_person(a, (middle, 0.48), (a - 0.07, 0.55), rng),
            _person(b, (b + 0.07, 0.55), (middle, 0.48), rng))


def synthetic_set(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = ["hug", "handshake"] * (count // 2)
    return np.stack([keypoint_array(*synthetic_pair(label, rng)) for label in labels]), labels


@pytest.fixture(scope="module")
def train_set():
    return synthetic_set(40, seed=0)


@pytest.fixture(scope="module")
def test_set():
    return synthetic_set(20, seed=1)


# ---- metric arithmetic ---------------------------------------------------------------------------


def test_pair_scores_are_100_times_the_cosine_of_each_pair():
    images = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    texts = torch.tensor([[1.0, 1.0], [0.0, -1.0], [6.0, 8.0]])
    assert pair_scores(images, texts).tolist() == pytest.approx([100 / math.sqrt(2), -100.0, 100.0])


def test_pair_scores_refuse_mismatched_counts():
    with pytest.raises(ValueError, match="one text per image"):
        pair_scores(torch.ones(2, 4), torch.ones(3, 4))


def test_mean_ci95_is_the_student_t_interval():
    summary = mean_ci95([1.0, 2.0, 3.0, 4.0])
    # s = sqrt(5/3) = 1.2910, t(0.975, 3) = 3.1824, half-width = t * s / sqrt(4)
    assert summary.mean == 2.5 and summary.n == 4
    assert summary.ci95 == pytest.approx(3.182446305 * math.sqrt(5 / 3) / 2, rel=1e-6)


def test_mean_ci95_of_one_value_has_no_interval():
    summary = mean_ci95([42.0])
    assert summary.mean == 42.0 and math.isnan(summary.ci95)


def test_accuracy_counts_a_missing_prediction_as_wrong():
    assert accuracy_scores(["hug", "handshake", None, "hug"], "hug") == [100.0, 0.0, 0.0, 100.0]


def test_clip_t_text_puts_the_description_in_place_of_the_triggers():
    prompt = "a man kisshand_p1 kisshand_r a woman kisshand_p2, in a park"
    assert clip_t_text(prompt, NAMES, DESCRIPTION) == "a man kneels and kisses the hand of a woman, in a park"


def test_clip_s_text_names_both_subjects():
    assert clip_s_text("man", "woman") == "a photo of man and woman"


def test_subjects_are_read_from_a_prompt_that_follows_the_template():
    prompt = "a photo of a old man kisshand_p1 kisshand_r a woman kisshand_p2, at sunset"
    assert subjects_from_prompt(prompt, TEMPLATE) == ("old man", "woman")
    assert subjects_from_prompt("a man kisshand_r a woman", TEMPLATE) is None


# ---- pose classifiers ----------------------------------------------------------------------------


def test_normalized_adjacency_matches_hand_computation_on_a_path():
    matrix = normalized_adjacency([(0, 1), (1, 2)], 3)
    # degrees with self-loops: 2, 3, 2
    expected = torch.tensor([[1 / 2, 1 / math.sqrt(6), 0], [1 / math.sqrt(6), 1 / 3, 1 / math.sqrt(6)],
                             [0, 1 / math.sqrt(6), 1 / 2]])
    assert torch.allclose(matrix, expected)


def test_keypoint_array_centres_on_both_people_and_scales_by_the_longer_side():
    left = Person(((0.2, 0.2),) + (None,) * 17)
    right = Person((None, (0.6, 0.4)) + (None,) * 16)
    array = keypoint_array(left, right)
    assert array.shape == (2, 18, 3)
    assert array[0, 0].tolist() == pytest.approx([-0.5, -0.25, 1.0])
    assert array[1, 1].tolist() == pytest.approx([0.5, 0.25, 1.0])
    assert array[0, 1].tolist() == [0.0, 0.0, 0.0]


def test_keypoint_array_keeps_the_aspect_of_the_canvas():
    corner = Person(((0.0, 0.0),) + (None,) * 17)
    opposite = Person(((1.0, 1.0),) + (None,) * 17)
    array = keypoint_array(corner, opposite, size=(200, 100))
    assert array[0, 0].tolist() == pytest.approx([-0.5, -0.25, 1.0])
    assert array[1, 0].tolist() == pytest.approx([0.5, 0.25, 1.0])


def test_pose_svm_tells_synthetic_interactions_apart(train_set, test_set):
    svm = train_pose_svm(pose_features(train_set[0]), train_set[1], FAST)
    predicted = svm.predict(pose_features(test_set[0]))
    assert np.mean([p == t for p, t in zip(predicted, test_set[1], strict=True)]) >= 0.9


def test_pose_gcn_tells_synthetic_interactions_apart(train_set, test_set):
    gcn = train_pose_gcn(train_set[0], train_set[1], FAST)
    predicted = gcn.predict(test_set[0])
    assert np.mean([p == t for p, t in zip(predicted, test_set[1], strict=True)]) >= 0.9


@pytest.mark.parametrize("kind", ["svm", "gcn"])
def test_classifier_file_keeps_predictions_version_and_hashes(kind, train_set, test_set, tmp_path):
    from safetensors import safe_open

    train = train_pose_svm if kind == "svm" else train_pose_gcn
    inputs = pose_features(test_set[0]) if kind == "svm" else test_set[0]
    features = pose_features(train_set[0]) if kind == "svm" else train_set[0]
    classifier = train(features, train_set[1], FAST)

    path = save_classifier(classifier, tmp_path / f"{kind}.safetensors")
    loaded = load_classifier(path)

    assert isinstance(loaded, PoseSVM if kind == "svm" else PoseKPClassifier)
    assert loaded.predict(inputs) == classifier.predict(inputs)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["interinv.format"] == CLASSIFIER_FORMAT
    assert len(metadata["interinv.data_sha256"]) == 64 and len(metadata["interinv.content_sha256"]) == 64
    assert json.loads(metadata["interinv.classes"]) == ["handshake", "hug"]


def test_a_classifier_file_with_changed_weights_is_refused(train_set, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = save_classifier(train_pose_svm(pose_features(train_set[0]), train_set[1]), tmp_path / "svm.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        metadata = handle.metadata()
    tensors["coef"] = tensors["coef"] * 2
    save_file(tensors, str(path), metadata=metadata)

    with pytest.raises(InterInvError, match="do not match the hash"):
        load_classifier(path)


def labelled_folder(root: Path, labels: dict[str, str], count: int = 6, seed: int = 2) -> Path:
    """root/<label>/: exemplar folders of `count` images with OpenPose JSON; labels maps label -> synthetic kind."""
    rng = np.random.default_rng(seed)
    for label, kind in labels.items():
        folder = root / label
        folder.mkdir(parents=True)
        (folder / "interaction.json").write_text(json.dumps({"subjects": ["man", "woman"]}))
        for i in range(count):
            Image.new("RGB", (64, 64)).save(folder / f"{i}.png")
            write_openpose_json(folder / f"{i}.json", PoseImage(64, 64, synthetic_pair(kind, rng)))
    return root


def test_classifiers_train_from_a_labelled_folder_of_exemplars(tmp_path):
    root = labelled_folder(tmp_path / "labelled", {"hug": "hug", "handshake": "handshake"})

    paths = train_from_folder(root, tmp_path / "classifiers", config=FAST)

    assert isinstance(load_classifier(paths["pose-s"]), PoseSVM)
    assert load_classifier(paths["pose-kp"]).classes == ("handshake", "hug")


# ---- evaluation runs -----------------------------------------------------------------------------


def _generated_images(folder, count: int, with_pose: bool, rng) -> None:
    """Images named like generations, with an A1111 infotext prompt and (optionally) an OpenPose JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
        prompt = f"a photo of a man {NAMES['p1']} {NAMES['r']} a woman {NAMES['p2']}, seed {i}"
        save_png(folder / f"{i:03d}.png", image, f"{prompt}\nSteps: 20, Seed: {i}, Size: 48x48")
        if with_pose:
            write_openpose_json(folder / f"{i:03d}.json", PoseImage(48, 48, synthetic_pair("hug", rng)))


def test_collect_samples_reads_prompt_subjects_and_pose(tmp_path):
    _generated_images(tmp_path / "gen", 2, with_pose=True, rng=np.random.default_rng(3))

    samples = collect_samples(tmp_path / "gen", MANIFEST)

    assert [s.subjects for s in samples] == [("man", "woman")] * 2
    assert samples[0].prompt.startswith("a photo of a man kisshand_p1")
    assert all(len(s.pose.people) == 2 and s.pose.canvas_width == 48 for s in samples)


@pytest.fixture(scope="module")
def tiny_open_clip(tmp_path_factory):
    """A randomly initialised open_clip model of a tiny registered architecture (pretrained=None)."""
    import open_clip

    config = tmp_path_factory.mktemp("open_clip") / "interinv-tiny-clip.json"
    config.write_text(json.dumps({
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("interinv-tiny-clip", pretrained=None)
    return OpenClipEncoder(model, preprocess, open_clip.get_tokenizer("interinv-tiny-clip"), "interinv-tiny-clip")


def test_clip_metrics_score_each_image_against_its_texts(tiny_open_clip, tmp_path):
    _generated_images(tmp_path / "gen", 3, with_pose=False, rng=np.random.default_rng(4))
    samples = collect_samples(tmp_path / "gen", MANIFEST)

    report = evaluate(samples, MANIFEST, clip=tiny_open_clip, batch_size=2)

    assert set(report.metrics) == {CLIP_T, CLIP_S} and report.metrics[CLIP_T].n == 3
    first = report.rows[0]
    assert first[f"{CLIP_T} text"] == "a photo of a man kneels and kisses the hand of a woman, seed 0"
    assert first[f"{CLIP_S} text"] == "a photo of man and woman"
    image = Image.open(samples[0].image).convert("RGB")
    direct = pair_scores(tiny_open_clip.encode_images([image]), tiny_open_clip.encode_texts([first[f"{CLIP_T} text"]]))
    assert first[CLIP_T] == pytest.approx(direct.item(), abs=1e-4)
    values = [row[CLIP_S] for row in report.rows]
    assert report.metrics[CLIP_S].mean == pytest.approx(np.mean(values))
    assert "CLIP-T" in format_report(report) and json.dumps(report.to_dict())


def test_clip_t_without_a_description_explains_the_fix(tiny_open_clip, tmp_path):
    _generated_images(tmp_path / "gen", 1, with_pose=False, rng=np.random.default_rng(5))
    samples = collect_samples(tmp_path / "gen", MANIFEST)
    with pytest.raises(InterInvError, match="--description"):
        evaluate(samples, dataclasses.replace(MANIFEST, description=""), clip=tiny_open_clip)


def test_pose_metrics_count_images_without_two_people_as_wrong(train_set):
    rng = np.random.default_rng(6)
    svm = train_pose_svm(pose_features(train_set[0]), train_set[1], FAST)
    gcn = train_pose_gcn(train_set[0], train_set[1], FAST)
    manifest = dataclasses.replace(MANIFEST, slug="hug")
    samples = [EvalSample(Path(f"{i}.png"), "p", ("man", "woman"), PoseImage(64, 64, synthetic_pair("hug", rng)))
               for i in range(4)]
    samples.append(EvalSample(Path("4.png"), "p", ("man", "woman"), PoseImage(64, 64, synthetic_pair("hug", rng)[:1])))

    report = evaluate(samples, manifest, pose_s=svm, pose_kp=gcn)

    assert report.two_people_found == 4
    assert report.metrics[POSE_S].mean == pytest.approx(80.0)
    assert report.metrics[POSE_KP].mean == pytest.approx(80.0)
    assert report.rows[4][POSE_S] is None
    assert report.models[POSE_KP]["kind"] == "pose-kp"


def test_pose_metrics_refuse_a_classifier_that_does_not_know_the_interaction(train_set):
    svm = train_pose_svm(pose_features(train_set[0]), train_set[1], FAST)
    pose = PoseImage(64, 64, synthetic_pair("hug", np.random.default_rng(7)))
    samples = [EvalSample(Path("0.png"), "p", ("man", "woman"), pose)]
    with pytest.raises(InterInvError, match="not 'kisshand'"):
        evaluate(samples, MANIFEST, pose_s=svm)


# ---- loading CLIP from local paths ---------------------------------------------------------------


def test_load_clip_reads_an_open_clip_checkpoint_file(tiny_open_clip, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_open_clip.model.state_dict().items()}, str(path))

    loaded = load_clip(path, arch="interinv-tiny-clip")

    assert isinstance(loaded, OpenClipEncoder)
    texts = ["a photo of man and woman"]
    assert torch.allclose(loaded.encode_texts(texts), tiny_open_clip.encode_texts(texts))


@pytest.fixture(scope="module")
def transformers_clip_folder(tmp_path_factory) -> Path:
    """A randomly initialised tiny transformers CLIPModel and its processor, saved to a local folder."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from interinv.hosts.clip_tokenizer import clip_tokenizer

    folder = tmp_path_factory.mktemp("transformers-clip")
    small = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=1)
    config = CLIPConfig(text_config={**small, "vocab_size": 49408, "max_position_embeddings": 77},
                        vision_config={**small, "image_size": 32, "patch_size": 16}, projection_dim=16)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=clip_tokenizer())
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_load_clip_reads_a_transformers_folder(transformers_clip_folder):
    clip = load_clip(transformers_clip_folder)

    assert isinstance(clip, TransformersClipEncoder)
    assert clip.encode_images([Image.new("RGB", (40, 30))]).shape == (1, 16)
    assert clip.encode_texts(["a man", "a photo of man and woman"]).shape == (2, 16)


def test_load_clip_never_downloads(tmp_path):
    with pytest.raises(InterInvError, match="do not exist. Give a local folder or file"):
        load_clip("openai/clip-vit-large-patch14")


# ---- the `interinv eval` command -----------------------------------------------------------------


@pytest.fixture(scope="module")
def open_clip_folder(tiny_open_clip, tmp_path_factory) -> Path:
    """The random-weight open_clip model saved as a local open_clip folder (config + safetensors)."""
    import open_clip
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("open-clip-folder")
    model_cfg = open_clip.get_model_config("interinv-tiny-clip")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    state = {k: v.contiguous() for k, v in tiny_open_clip.model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def eval_inputs(tmp_path_factory, host):
    """An exported interaction, four generated 'hug' images with poses, and labelled exemplars of two interactions."""
    from share_helpers import make_export

    root = tmp_path_factory.mktemp("eval-cli")
    export = make_export(root / "export", host, previews=False)
    _generated_images(root / "generated", 4, with_pose=True, rng=np.random.default_rng(8))
    labelled = labelled_folder(root / "labelled", {SLUG: "hug", "handshake": "handshake"})
    return export, root / "generated", labelled


def _eval(capsys, *argv: str) -> tuple[int, str, str]:
    from interinv.cli import main

    code = main(["eval", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_command_trains_the_classifiers_and_scores_all_four_metrics(eval_inputs, open_clip_folder, tmp_path, capsys):
    from safetensors import safe_open

    export, generated, labelled = eval_inputs
    code, out, err = _eval(capsys, generated, "--embeddings", export, "--clip", open_clip_folder, "--device", "cpu",
                           "--train-classifiers", labelled, "--classifiers-out", tmp_path / "cls",
                           "--json", tmp_path / "scores.json")

    assert code == 0, err
    assert all(f"  {metric} " in out for metric in (CLIP_T, CLIP_S, POSE_S, POSE_KP))
    assert "two people found in 4 of 4 images" in out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert set(scores["metrics"]) == {CLIP_T, CLIP_S, POSE_S, POSE_KP}
    for metric, summary in scores["metrics"].items():
        per_image = [row[metric] for row in scores["rows"]]
        if metric in (POSE_S, POSE_KP):
            per_image = [100.0 if label == SLUG else 0.0 for label in per_image]
        assert summary["n"] == 4 and summary["mean"] == pytest.approx(np.mean(per_image))
        assert summary["ci95"] is None or summary["ci95"] >= 0
    for kind, metric in (("pose-s", POSE_S), ("pose-kp", POSE_KP)):
        with safe_open(str(tmp_path / "cls" / f"{kind}.safetensors"), framework="pt") as handle:
            metadata = handle.metadata()
        assert metadata["interinv.version"] and metadata["interinv.format"] == CLASSIFIER_FORMAT
        assert scores["models"][metric]["content_sha256"] == metadata["interinv.content_sha256"]
        assert scores["models"][metric]["data_sha256"] == metadata["interinv.data_sha256"]


def test_eval_command_clip_scores_match_the_model_loaded_from_its_folder(eval_inputs, open_clip_folder, capsys):
    export, generated, _ = eval_inputs
    code, out, err = _eval(capsys, generated, "--embeddings", export, "--clip", open_clip_folder, "--json", "-")

    assert code == 0, err
    assert "CLIP-T" in err  # the table goes to stderr, so that stdout is the JSON alone
    scores = json.loads(out)
    first = scores["rows"][0]
    clip = load_clip(open_clip_folder)
    image = Image.open(generated / first["image"]).convert("RGB")
    direct = pair_scores(clip.encode_images([image]), clip.encode_texts([first[f"{CLIP_T} text"]]))
    assert first[CLIP_T] == pytest.approx(direct.item(), abs=1e-4)
    assert first[f"{CLIP_T} text"] == "a photo of a man kneels and kisses the hand of a woman, seed 0"
    assert scores["models"]["clip"] == str(open_clip_folder)


def test_eval_command_reads_a_transformers_clip_folder(eval_inputs, transformers_clip_folder, capsys):
    export, generated, _ = eval_inputs
    code, out, err = _eval(capsys, generated, "--embeddings", export, "--clip", transformers_clip_folder, "--json", "-")

    assert code == 0, err
    scores = json.loads(out)
    assert set(scores["metrics"]) == {CLIP_T, CLIP_S}
    assert all(isinstance(row[CLIP_S], float) for row in scores["rows"])


def test_eval_command_scores_with_saved_classifiers(eval_inputs, tmp_path, capsys):
    export, generated, labelled = eval_inputs
    paths = train_from_folder(labelled, tmp_path / "cls", config=FAST)

    code, out, err = _eval(capsys, generated, "--embeddings", export, "--pose-kp", paths["pose-kp"], "--json", "-")

    assert code == 0, err
    scores = json.loads(out)
    assert set(scores["metrics"]) == {POSE_KP}
    assert scores["models"][POSE_KP]["classes"] == f"handshake, {SLUG}"


def test_eval_command_without_any_model_says_what_to_give(eval_inputs, capsys):
    export, generated, _ = eval_inputs
    code, _, err = _eval(capsys, generated, "--embeddings", export)
    assert code == 2 and "--clip PATH" in err and "--train-classifiers FOLDER" in err
