"""What both hosts share behind the Host protocol: image encoding in batches, and batch rendering."""

import numpy as np
import pytest
import torch
from PIL import Image

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from standin import a1111_host
from standin import webui  # noqa: F401  (a fixture)

from interinv.errors import InterInvError


def _images(count):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(count)]


def _vectors(host, name="kh_r"):
    generator = torch.Generator().manual_seed(0)
    return {name: {key: torch.randn(1, width, generator=generator) for key, width in host.embedding_dims.items()}}


def test_encoding_in_batches_gives_each_image_its_own_latent(host):
    images = _images(5)  # two VAE calls: 4 + 1
    mean, std = host.encode_images(images, (32, 32))
    alone, _ = host.encode_images(images[4:], (32, 32))
    assert mean.shape == std.shape and mean.shape[:2] == (5, 4) and mean.dtype == torch.float32 and mean.device.type == "cpu"
    assert torch.allclose(mean[4:], alone, atol=1e-5) and (std > 0).all()


@pytest.mark.parametrize("model", ["host", "sdxl_host"])
def test_diffusers_generate_batch_gives_generates_image_for_each_prompt_and_seed(model, request):
    host = request.getfixturevalue(model)
    vectors, prompts = _vectors(host), ["a man kh_r a woman", "a cat kh_r a dog"]
    images = host.generate_batch(prompts, seeds=[3, 4], vectors=vectors, steps=2, guidance_scale=7.5, size=(32, 32))
    single = host.generate_batch(prompts[1:], seeds=[4], steps=2, size=(32, 32), vectors=vectors)[0]
    assert [image.size for image in images] == [(32, 32)] * 2
    assert np.abs(np.asarray(images[1], dtype=int) - np.asarray(single, dtype=int)).max() <= 1  # batched vs alone
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))


def test_a1111_generate_batch_gives_generates_image_for_each_prompt_and_seed(webui):
    host = a1111_host()
    vectors = _vectors(host)
    images = host.generate_batch(["a man kh_r a woman"] * 2, seeds=[3, 4], vectors=vectors, steps=2, guidance_scale=7.5,
                               size=(64, 64))
    single = host.generate("a man kh_r a woman", seed=4, steps=2, size=(64, 64), vectors=vectors)
    assert [image.size for image in images] == [(64, 64)] * 2
    assert np.array_equal(np.asarray(images[1]), np.asarray(single))
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))


def test_an_inpainting_unet_of_any_family_is_refused_with_the_reason():
    from interinv.hosts.diffusers_host import DiffusersHost
    from interinv.testing import tiny_pipeline

    pipe = tiny_pipeline()
    pipe.unet.register_to_config(in_channels=9)  # what an SD1.5 inpainting UNet's config says
    with pytest.raises(InterInvError, match="takes 9 UNet input channels.*inpainting"):
        DiffusersHost(pipe, family="sd1", device="cpu", model_name="sd15-inpainting")
