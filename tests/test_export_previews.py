"""Previews (during training and the sidecars of the export) render at the training resolution with the configured
number of sampling steps, one image per word."""

from conftest import CountingHost, RecordingJob
from share_helpers import SLUG, make_export

from interinv.cli import build_config, parser
from interinv.formats.infotext import png_infotext
from interinv.engine.run import TrainRequest, run
from interinv.export import preview_grid


def test_previews_follow_the_training_resolution_and_the_preview_steps_setting(fresh_host, demo_data, small_config,
                                                                                tmp_path):
    from PIL import Image

    host = CountingHost(fresh_host)
    small_config.preview_steps = 3
    small_config.stage2.preview_every = 3
    out = tmp_path / "out"
    run(host, TrainRequest(exemplars=demo_data / "exemplars", out=out, config=small_config, name=small_config.name,
                           stage1_images=demo_data / "stage1"), RecordingJob())
    assert host.calls and all(kwargs["size"] == (32, 32) and kwargs["steps"] == 3 for _prompt, kwargs in host.calls)
    sidecars = sorted(out.glob("*.preview.png"))
    assert len(sidecars) == 3 and all(Image.open(p).size == (32, 32) for p in sidecars)
    assert all("Steps: 3," in png_infotext(p) for p in sidecars)


def test_the_preview_steps_come_from_the_cli_flag(tmp_path):
    args = parser().parse_args(["train", str(tmp_path), "--model", "m", "--out", str(tmp_path / "o"),
                                      "--preview-steps", "5"])
    assert build_config(args).preview_steps == 5



def test_the_preview_grid_renders_the_prompt_with_the_exported_words_once_per_seed_side_by_side(fresh_host, tmp_path):
    from PIL import Image

    host = CountingHost(fresh_host)
    export = make_export(tmp_path / "export", fresh_host, previews=False)
    grid = preview_grid(host, export, "a {p1} {r} {p2}", seeds=range(3), steps=1, target=tmp_path / "grid.png")
    words = f"a {SLUG}_p1 {SLUG}_r {SLUG}_p2"
    assert [(prompt, kwargs["seed"]) for prompt, kwargs in host.calls] == [(words, 0), (words, 1), (words, 2)]
    with Image.open(grid) as image:
        assert image.width == 3 * image.height  # three square images in one row
    assert png_infotext(grid) == f"{words}\nSeeds: [0, 1, 2]"
