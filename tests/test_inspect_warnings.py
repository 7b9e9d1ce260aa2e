"""`interinv inspect` warns about embedding files that cannot work, instead of printing them as fine."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import save_file

from interinv.cli import main


def _inspect(tmp_path, capsys, tensors) -> tuple[int, str]:
    path = tmp_path / "word.safetensors"
    save_file(tensors, str(path))
    code = main(["inspect", str(path)])
    return code, capsys.readouterr().err


def test_inspect_warns_on_all_nan_vectors(tmp_path, capsys):
    code, err = _inspect(tmp_path, capsys, {"emb_params": torch.full((2, 768), float("nan"))})
    assert code == 0 and "warning: tensor emb_params: every vector is all NaN" in err


def test_inspect_warns_on_zero_vectors_and_names_them(tmp_path, capsys):
    vectors = torch.randn(3, 768)
    vectors[1] = 0
    code, err = _inspect(tmp_path, capsys, {"emb_params": vectors})
    assert code == 0 and "warning: tensor emb_params: vector(s) [1] are all zero" in err


@pytest.mark.parametrize("tensors", [{"emb_params": torch.randn(1, 500)},
                                     {"clip_l": torch.randn(1, 768), "clip_g": torch.randn(1, 1024)}])
def test_inspect_warns_on_a_width_that_matches_no_family(tmp_path, capsys, tensors):
    code, err = _inspect(tmp_path, capsys, tensors)
    assert code == 0 and re.search(r"warning: widths? .* match(es)? no model family", err)


def test_inspect_of_a_sound_sd1_file_warns_about_nothing(tmp_path, capsys):
    code, err = _inspect(tmp_path, capsys, {"emb_params": torch.randn(2, 768)})
    assert code == 0 and err == ""
