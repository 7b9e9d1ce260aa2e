"""A1111 runs this on every start: install only the missing non-torch dependencies, never the host's own.

Whatever is installed is held to the versions the WebUI already has (a pip constraints file), because an
unconstrained `pip install controlnet_aux` upgrades numpy to 2.x and breaks A1111's compiled dependencies.
"""

import importlib.metadata
import tempfile

import launch

# (distribution, pip requirement): what InterInv needs inside the WebUI
REQUIREMENTS = (
    ("safetensors", "safetensors"),
    ("controlnet_aux", "controlnet_aux==0.0.10"),  # pose detection and skeleton drawing for the stage-1 images
)
# The WebUI's own packages: never installed or upgraded from here, and pinned while anything else installs
HOST_OWNED = ("torch", "torchvision", "gradio", "transformers", "fastapi", "pydantic", "numpy")
HELD = HOST_OWNED + ("pillow", "huggingface_hub", "safetensors", "opencv-python", "opencv-python-headless", "timm",
                     "scipy", "scikit-image", "protobuf")


def missing(requirements=REQUIREMENTS):
    return [spec for dist, spec in requirements if dist not in HOST_OWNED and not launch.is_installed(dist)]


def host_constraints(names=HELD) -> list[str]:
    """`name==version` for each held package the WebUI has installed."""
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def main():
    specs = missing()
    if not specs:
        return
    with tempfile.NamedTemporaryFile("w", suffix="-interinv-constraints.txt", delete=False) as pins:
        pins.write("\n".join(host_constraints()) + "\n")
    for spec in specs:
        launch.run_pip(f'install "{spec}" --constraint "{pins.name}"', f"InterInv requirement: {spec}")


main()
