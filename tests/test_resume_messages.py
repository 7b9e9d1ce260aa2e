"""A saved state made with other options says which options differ, so `export` or `--resume` can be fixed."""

from __future__ import annotations

import pytest
import torch

from interinv.config import TrainConfig
from interinv.errors import InterInvError
from interinv.engine.resume import fingerprint, load_state, save_state


def _fingerprint(cfg: TrainConfig):
    return fingerprint(stage2=cfg.to_dict()["stage2"], name=cfg.name, resolution=cfg.resolution,
                       exemplars=["3f2a", "9c1b"])


def _save(path, cfg: TrainConfig) -> None:
    vector = torch.nn.Parameter(torch.zeros(1, 8))
    optimizer = torch.optim.AdamW([vector])
    save_state(path, step=2, vectors={"w_r": {"clip_l": vector}}, optimizer=optimizer,
               generator=torch.Generator().manual_seed(0), scaler=None, fingerprint=_fingerprint(cfg))


def test_export_with_changed_options_names_each_option_that_differs(tmp_path):
    saved = TrainConfig(name="kiss", resolution=32)
    saved.stage2.steps = 2
    _save(tmp_path / "stage2.pt", saved)
    changed = TrainConfig(name="kiss", resolution=64)
    changed.stage2.steps = 3
    with pytest.raises(InterInvError, match=r"other settings or images: resolution \(was 32, now 64\), "
                                            r"stage2.steps \(was 2, now 3\)\. Resume with the same options"):
        load_state(tmp_path / "stage2.pt", _fingerprint(changed))


def test_the_same_options_load_the_saved_state(tmp_path):
    cfg = TrainConfig(name="kiss", resolution=32)
    _save(tmp_path / "stage2.pt", cfg)
    assert load_state(tmp_path / "stage2.pt", _fingerprint(cfg))["step"] == 2


def test_the_digest_of_named_parts_is_the_one_of_earlier_versions_so_old_states_still_resume():
    import hashlib
    import json

    parts = ({"steps": 2}, "kiss", 32)
    earlier = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    assert fingerprint(stage2={"steps": 2}, name="kiss", resolution=32) == earlier
