"""benchmarks/world_ab.py, the notebook's A/B harness: its pictures and its refusal of a bad variant name."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from interinv.errors import InterInvError
from interinv_world import render
from interinv_world.models import WEIGHTS_DIR, load_world
from interinv_world.pretrain import PretrainConfig, encode_latents, render_set, world_design

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "world_ab.py"


@pytest.fixture(scope="module")
def world_ab():
    spec = importlib.util.spec_from_file_location("world_ab", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules["world_ab"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["world_ab"]


def test_a_variant_name_that_is_not_a_slug_is_refused_before_any_training(world_ab, tmp_path):
    with pytest.raises(InterInvError, match="--variant name '../up'"):
        world_ab.main(["--variant", "ok:seed=1", "--variant", "../up:seed=2", "--pictures", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_pictures_show_renders_beside_generations_for_each_measurement(world_ab, tmp_path):
    cfg = dataclasses.replace(PretrainConfig(), style=render.Style(backdrop="studio"))
    world = load_world(WEIGHTS_DIR)
    vae, design = world.pipe.vae, world_design(cfg)
    fresh = render_set(4, 2, 7, design, lambda _: None)
    ruler = world_ab.Yardstick(dataclasses.replace(world, design=design), fresh,
                               encode_latents(vae, fresh.images) * vae.config.scaling_factor,
                               world_ab.named_scenes(vae, design, scenes=4))
    result = world_ab.measure("ctrl", cfg, world.pipe, ruler, 350, 2, tmp_path)
    assert result["steps"] == 350
    written = {p.stem for p in (tmp_path / "ctrl-step350").glob("*.png")}
    assert written == {*render.INTERACTIONS, "neutral_histogram"}


def test_the_base_variant_keeps_world_v1s_plan_and_data_whatever_the_defaults(world_ab):
    cfg = world_ab.base_config(400, render.V1_STYLE)
    assert (cfg.unet_steps, cfg.warmup, cfg.held_out_share) == (400, 80, None)
    assert (cfg.single_scenes, cfg.pose_pair_scenes) == (4000, 0)
