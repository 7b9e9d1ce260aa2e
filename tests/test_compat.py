"""Third-party noise: importing controlnet_aux and loading a diffusers folder print no known warnings.

Each check runs in a fresh interpreter with every warning shown, because a module warns only on its first
import and the test session may have imported it already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[1] / "extension"
KNOWN_NOISE = ("mediapipe", "timm", "tiny_vit", "torch.jit.script", "gaussian_filter", "torch_dtype", "accelerate")


def _stderr_of(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(EXTENSION), "PYTHONWARNINGS": "always"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_drawing_a_skeleton_imports_controlnet_aux_without_its_known_warnings():
    stderr = _stderr_of("from interinv.data.pose import draw_skeleton; draw_skeleton([], 8, 8)")
    assert [noise for noise in KNOWN_NOISE if noise in stderr] == [], stderr


def test_loading_a_diffusers_folder_warns_neither_about_torch_dtype_nor_accelerate(tmp_path):
    folder = str(tmp_path / "model")
    code = (
        "from interinv.testing import tiny_pipeline; from interinv.hosts.diffusers_host import load_host\n"
        f"tiny_pipeline().save_pretrained({folder!r}); load_host({folder!r}, device='cpu', family='sd1')\n"
    )
    stderr = _stderr_of(code)
    assert [noise for noise in KNOWN_NOISE if noise in stderr] == [], stderr
