"""A1111 runs this on every start: install only the missing non-torch dependencies, never the host's own."""

import launch

# (distribution, pip requirement); torch, gradio, transformers, fastapi and pydantic belong to the WebUI
REQUIREMENTS = (("safetensors", "safetensors"),)
HOST_OWNED = ("torch", "torchvision", "gradio", "transformers", "fastapi", "pydantic", "numpy")


def missing(requirements=REQUIREMENTS):
    return [spec for dist, spec in requirements if dist not in HOST_OWNED and not launch.is_installed(dist)]


def main():
    for spec in missing():
        launch.run_pip(f"install {spec}", f"InterInv requirement: {spec}")


main()
