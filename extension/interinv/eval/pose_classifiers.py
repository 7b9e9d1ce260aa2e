"""The two pose classifiers behind Pose-S and Pose-KP: which interaction do two people's poses show?

- Pose-S: a linear SVM (scikit-learn `LinearSVC`, one-vs-rest) on standardised pose features.
- Pose-KP: a 2-layer graph convolutional network (Kipf & Welling) in plain torch on the 36 keypoints of
  the two people (two OpenPose-18 skeletons, plus an edge between each joint and the same joint of
  the other person), mean-pooled into a linear head.

Both take the two subjects (O1, O2) as a [2, 18, 3] array of (x, y, visible), normalised to the box
around both people. Both are trained once from labelled exemplars and saved as safetensors (no pickle)
with a format version, the hash of their training data and the hash of their own tensors, so that
scores can be compared across runs only when the classifiers match.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .. import __version__
from ..atomic import write_atomic
from ..errors import InterInvError
from ..data.exemplars import load_image, load_interaction
from ..data.pose import LIMBS, NUM_KEYPOINTS, Person, PoseImage, assign_all, read_openpose_json
from ..data.pose_detectors import PoseDetector

CLASSIFIER_FORMAT = "interinv.pose-classifier/1"
POSE_S_KIND, POSE_KP_KIND = "pose-s", "pose-kp"
FEATURES = "keypoint-geometry/1"  # the feature recipe of `pose_features`; stored so old files are refused
CONTACT_JOINTS = (0, 1, 4, 7, 8, 11)  # nose, neck, both wrists, both hips: where two people touch
NODES = 2 * NUM_KEYPOINTS


@dataclass
class PoseClassifierConfig:
    svm_c: float = 1.0  # LinearSVC regularisation C
    hidden: int = 64  # GCN hidden width
    epochs: int = 300  # full-batch GCN training epochs
    lr: float = 1e-2  # GCN Adam learning rate
    weight_decay: float = 5e-4  # GCN Adam weight decay
    jitter: float = 0.02  # std of the noise added to visible joints while training the GCN (box units)
    scale_jitter: float = 0.1  # GCN training scales each pose by 1 ± this, at most
    seed: int = 0  # seeds the SVM and every GCN draw


# ---- keypoints and features (pure) -------------------------------------------------------------


def keypoint_array(o1: Person, o2: Person, size: tuple[int, int] = (1, 1)) -> np.ndarray:
    """[2, 18, 3]: (x, y, visible) of O1 and O2, centred on the box around both and scaled by its longer side.

    `size` (width, height) of the canvas turns the normalised keypoints back into the image's aspect.
    """
    width, height = size
    points = [(p[0] * width, p[1] * height) for person in (o1, o2) for p in person.visible]
    if not points:
        raise InterInvError("Neither person has a visible joint; there is no pose to classify.")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    side = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    array = np.zeros((2, NUM_KEYPOINTS, 3), dtype=np.float32)
    for i, person in enumerate((o1, o2)):
        for j, point in enumerate(person.keypoints):
            if point is not None:
                array[i, j] = ((point[0] * width - cx) / side, (point[1] * height - cy) / side, 1.0)
    return array


def pose_features(keypoints: np.ndarray) -> np.ndarray:
    """[N, F] geometry of [N, 2, 18, 3] keypoints: coordinates, limb directions, and contact distances.

    Missing joints give zeros, and their visibility flags (part of the coordinates) say so.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    n = keypoints.shape[0]
    xy, visible = keypoints[..., :2], keypoints[..., 2]
    a, b = np.array(LIMBS).T
    vectors = xy[:, :, b] - xy[:, :, a]
    lengths = np.linalg.norm(vectors, axis=-1, keepdims=True)
    limb_seen = (visible[:, :, a] * visible[:, :, b])[..., None]
    directions = np.where(lengths > 0, vectors / np.maximum(lengths, 1e-8), 0.0) * limb_seen
    joints = list(CONTACT_JOINTS)
    first, second = xy[:, 0, joints], xy[:, 1, joints]
    distances = np.linalg.norm(first[:, :, None, :] - second[:, None, :, :], axis=-1)
    pair_seen = visible[:, 0, joints][:, :, None] * visible[:, 1, joints][:, None, :]
    return np.concatenate(
        [keypoints.reshape(n, -1), directions.reshape(n, -1), (distances * pair_seen).reshape(n, -1)], axis=1
    ).astype(np.float32)


def normalized_adjacency(edges: Sequence[tuple[int, int]], nodes: int) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2 of an undirected graph: the propagation matrix of a GCN layer."""
    adjacency = torch.eye(nodes)
    for i, j in edges:
        adjacency[i, j] = adjacency[j, i] = 1.0
    inv_sqrt = adjacency.sum(dim=1).rsqrt()
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


def two_person_edges() -> list[tuple[int, int]]:
    """Both skeletons' limbs, plus an edge from each joint of O1 to the same joint of O2."""
    edges = [(i, j) for i, j in LIMBS] + [(i + NUM_KEYPOINTS, j + NUM_KEYPOINTS) for i, j in LIMBS]
    return edges + [(k, k + NUM_KEYPOINTS) for k in range(NUM_KEYPOINTS)]


def data_sha256(arrays: np.ndarray, labels: Sequence[str]) -> str:
    """The identity of a training set: its float32 bytes and its labels."""
    digest = hashlib.sha256(np.ascontiguousarray(arrays, dtype=np.float32).tobytes())
    digest.update(json.dumps(list(labels)).encode())
    return digest.hexdigest()


# ---- Pose-S: linear SVM -------------------------------------------------------------------------


@dataclass
class PoseSVM:
    """A trained linear SVM with its standardisation, evaluated with numpy alone."""

    classes: tuple[str, ...]
    mean: np.ndarray  # [F]
    scale: np.ndarray  # [F]
    coef: np.ndarray  # [C, F], or [1, F] for two classes
    intercept: np.ndarray  # [C] or [1]
    info: dict[str, str]

    def decision(self, features: np.ndarray) -> np.ndarray:
        """[N, C] or [N] (two classes) signed distances to the separating hyperplanes."""
        standard = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        scores = standard @ self.coef.T + self.intercept
        return scores[:, 0] if self.coef.shape[0] == 1 else scores

    def predict(self, features: np.ndarray) -> list[str]:
        scores = self.decision(features)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return [self.classes[i] for i in index]


def train_pose_svm(features: np.ndarray, labels: Sequence[str], config: PoseClassifierConfig | None = None) -> PoseSVM:
    """Fit StandardScaler + LinearSVC on [N, F] features; keeps only the arrays it needs."""
    config = config or PoseClassifierConfig()
    try:
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC
    except ImportError as exc:
        raise InterInvError("Training the Pose-S classifier needs scikit-learn: pip install 'interinv[eval]'.") from exc

    features = np.asarray(features, dtype=np.float32)
    _check_training_set(features, labels)
    scaler = StandardScaler().fit(features)
    svm = LinearSVC(C=config.svm_c, random_state=config.seed, max_iter=10000).fit(scaler.transform(features), list(labels))
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    info = _training_info(POSE_S_KIND, features, labels, config)
    return PoseSVM(tuple(str(c) for c in svm.classes_), scaler.mean_.astype(np.float32), scale.astype(np.float32),
                   svm.coef_.astype(np.float32), svm.intercept_.astype(np.float32), info)


# ---- Pose-KP: 2-layer GCN -----------------------------------------------------------------------


class PoseGCN(torch.nn.Module):
    """Two graph convolutions over the 36 joints of two people, mean pooling, a linear head."""

    def __init__(self, num_classes: int, hidden: int = 64):
        super().__init__()
        self.register_buffer("propagation", normalized_adjacency(two_person_edges(), NODES), persistent=False)
        # which joint a node is, as a one-hot feature
        self.register_buffer("identity", torch.eye(NODES), persistent=False)
        self.layer1 = torch.nn.Linear(3 + NODES, hidden)
        self.layer2 = torch.nn.Linear(hidden, hidden)
        self.head = torch.nn.Linear(hidden, num_classes)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Class logits [B, C] of keypoints [B, 2, 18, 3]."""
        nodes = keypoints.reshape(keypoints.shape[0], NODES, 3)
        x = torch.cat([nodes, self.identity.expand(nodes.shape[0], -1, -1)], dim=-1)
        x = torch.relu(self.propagation @ self.layer1(x))
        x = torch.relu(self.propagation @ self.layer2(x))
        return self.head(x.mean(dim=1))


@dataclass
class PoseKPClassifier:
    classes: tuple[str, ...]
    model: PoseGCN
    info: dict[str, str]

    @torch.no_grad()
    def predict(self, keypoints: np.ndarray) -> list[str]:
        self.model.eval()
        logits = self.model(torch.as_tensor(np.asarray(keypoints, dtype=np.float32)))
        return [self.classes[i] for i in logits.argmax(dim=1).tolist()]


def augment(keypoints: torch.Tensor, jitter: float, scale_jitter: float, generator: torch.Generator) -> torch.Tensor:
    """Visible joints moved by Gaussian noise and each pose scaled by a random factor; missing ones stay 0."""
    visible = keypoints[..., 2:]
    noise = torch.randn(keypoints[..., :2].shape, generator=generator) * jitter
    scale = 1 + (torch.rand(keypoints.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * scale_jitter
    xy = (keypoints[..., :2] * scale + noise) * visible
    return torch.cat([xy, visible], dim=-1)


def train_pose_gcn(
    keypoints: np.ndarray, labels: Sequence[str], config: PoseClassifierConfig | None = None
) -> PoseKPClassifier:
    """Full-batch Adam on cross-entropy over [N, 2, 18, 3] keypoints, with jitter and scale augmentation."""
    config = config or PoseClassifierConfig()
    keypoints = np.asarray(keypoints, dtype=np.float32)
    _check_training_set(keypoints, labels)
    classes = tuple(sorted(set(labels)))
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = PoseGCN(len(classes), config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    x = torch.from_numpy(keypoints)
    y = torch.tensor([classes.index(label) for label in labels])
    model.train()
    for _ in range(config.epochs):
        loss = torch.nn.functional.cross_entropy(model(augment(x, config.jitter, config.scale_jitter, generator)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return PoseKPClassifier(classes, model, _training_info(POSE_KP_KIND, keypoints, labels, config))


def _check_training_set(arrays: np.ndarray, labels: Sequence[str]) -> None:
    if len(arrays) != len(labels):
        raise InterInvError(f"{len(arrays)} training examples but {len(labels)} labels; give one label per example.")
    if len(set(labels)) < 2:
        raise InterInvError(
            f"A pose classifier needs at least two interactions to tell apart, got {sorted(set(labels))}. "
            "Add a folder of exemplars for another interaction."
        )


def _training_info(kind: str, arrays: np.ndarray, labels: Sequence[str], config: PoseClassifierConfig) -> dict[str, str]:
    return {
        "interinv.classifier": kind,
        "interinv.features": FEATURES,
        "interinv.data_sha256": data_sha256(arrays, labels),
        "interinv.train_examples": str(len(labels)),
        "interinv.config": json.dumps(asdict(config)),
        "interinv.version": __version__,
    }


# ---- files ---------------------------------------------------------------------------------------


def content_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """A hash of the tensors themselves (names, dtypes, shapes, bytes), independent of the file header."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def classifier_tensors(classifier: PoseSVM | PoseKPClassifier) -> dict[str, torch.Tensor]:
    """The tensors that define a classifier, as they are saved."""
    if isinstance(classifier, PoseSVM):
        return {name: torch.from_numpy(np.ascontiguousarray(getattr(classifier, name)))
                for name in ("mean", "scale", "coef", "intercept")}
    return {k: v.detach().cpu().contiguous() for k, v in classifier.model.state_dict().items()}


def classifier_identity(classifier: PoseSVM | PoseKPClassifier) -> dict[str, str]:
    """What a report must name so that two runs can tell whether they used the same classifier."""
    return {
        "kind": classifier.info["interinv.classifier"],
        "format": CLASSIFIER_FORMAT,
        "features": classifier.info["interinv.features"],
        "classes": ", ".join(classifier.classes),
        "data_sha256": classifier.info["interinv.data_sha256"],
        "content_sha256": content_sha256(classifier_tensors(classifier)),
    }


def save_classifier(classifier: PoseSVM | PoseKPClassifier, path: str | os.PathLike) -> Path:
    """A safetensors file with the weights, the classes, the format version and both hashes."""
    from safetensors.torch import save_file

    tensors = classifier_tensors(classifier)
    metadata = {
        **classifier.info,
        "interinv.format": CLASSIFIER_FORMAT,
        "interinv.classes": json.dumps(list(classifier.classes)),
        "interinv.content_sha256": content_sha256(tensors),
    }
    return write_atomic(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_classifier(path: str | os.PathLike) -> PoseSVM | PoseKPClassifier:
    """A classifier saved by save_classifier, refused if its format or its tensors' hash do not match."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
            metadata = dict(handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise InterInvError(
            f"Cannot read the pose classifier '{path}' ({exc}). Train it again (interinv eval --train-classifiers FOLDER)."
        ) from exc
    if metadata.get("interinv.format") != CLASSIFIER_FORMAT or metadata.get("interinv.features") != FEATURES:
        raise InterInvError(
            f"'{path}' is not a pose classifier of this InterInv version (format {metadata.get('interinv.format')!r}, "
            f"features {metadata.get('interinv.features')!r}; expected {CLASSIFIER_FORMAT!r}, {FEATURES!r}). "
            "Train it again."
        )
    if content_sha256(tensors) != metadata.get("interinv.content_sha256"):
        raise InterInvError(
            f"The weights in '{path}' do not match the hash saved with them; the file was changed. Train it again."
        )
    classes = tuple(json.loads(metadata["interinv.classes"]))
    info = {k: v for k, v in metadata.items() if k not in ("interinv.format", "interinv.classes", "interinv.content_sha256")}
    if metadata.get("interinv.classifier") == POSE_S_KIND:
        arrays = {k: v.numpy() for k, v in tensors.items()}
        return PoseSVM(classes, arrays["mean"], arrays["scale"], arrays["coef"], arrays["intercept"], info)
    config = PoseClassifierConfig(**json.loads(metadata["interinv.config"]))
    model = PoseGCN(len(classes), config.hidden)
    model.load_state_dict(tensors)
    model.eval()
    return PoseKPClassifier(classes, model, info)


# ---- training from a labelled folder --------------------------------------------------------------

def labelled_keypoints(root: str | os.PathLike, detector: PoseDetector | None = None) -> tuple[np.ndarray, list[str]]:
    """[N, 2, 18, 3] keypoints and labels from `root/<label>/`, each an exemplar folder with interaction.json.

    Poses come from each image's OpenPose JSON, or from `detector` for images without one.
    """
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not folders:
        raise InterInvError(
            f"'{root}' has no subfolders. Put each interaction's exemplars in its own subfolder "
            "(the folder name is the label), e.g. train/kisshand/, train/hug/."
        )
    poses, orders, labels, missing = {}, {}, [], []
    for folder in folders:
        for exemplar in load_interaction(folder).exemplars:
            pose = image_pose(exemplar.image, exemplar.pose, detector)
            if pose is None:
                missing.append(str(exemplar.image))
                continue
            poses[str(exemplar.image)], orders[str(exemplar.image)] = pose, exemplar.people
            labels.append(folder.name)
    if missing:
        raise InterInvError(
            "These exemplars have no OpenPose JSON and no pose detector was given:\n  " + "\n  ".join(missing)
            + "\nAdd '<image>.json' poses (the ControlNet openpose editor format) or choose a pose detector."
        )
    subjects = assign_all({image: pose.people for image, pose in poses.items()}, orders)
    arrays = [keypoint_array(*subjects[image], size=(pose.canvas_width, pose.canvas_height)) for image, pose in poses.items()]
    return np.stack(arrays), labels


def image_pose(image: Path, pose_json: Path | None, detector: PoseDetector | None) -> PoseImage | None:
    """The people of an image: from its OpenPose JSON when there is one, else from the detector, else None."""
    if pose_json is not None:
        with Image.open(image) as opened:
            size = opened.size
        return read_openpose_json(pose_json, canvas_size=size)
    if detector is None:
        return None
    picture = load_image(image)
    return PoseImage(picture.width, picture.height, tuple(detector(picture)))


def train_from_folder(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    detector: PoseDetector | None = None,
    config: PoseClassifierConfig | None = None,
) -> dict[str, Path]:
    """Train both classifiers from a labelled folder; returns {"pose-s": path, "pose-kp": path}."""
    keypoints, labels = labelled_keypoints(root, detector)
    out_dir = Path(out_dir)
    return {
        POSE_S_KIND: save_classifier(train_pose_svm(pose_features(keypoints), labels, config), out_dir / f"{POSE_S_KIND}.safetensors"),
        POSE_KP_KIND: save_classifier(train_pose_gcn(keypoints, labels, config), out_dir / f"{POSE_KP_KIND}.safetensors"),
    }
