"""A Civitai-ready zip of an exported interaction: the three files, previews with A1111 infotext, a README.

Civitai has no public upload API (its REST API only reads models, versions, images and tags), so
`write_bundle` makes the zip that the user uploads by hand on the Civitai "create model" page.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path
from typing import Mapping

from .. import __version__
from ..atomic import write_atomic
from ..core.tokens import ROLES
from ..errors import InterInvError
from ..formats.infotext import a1111_infotext, parse_infotext, png_infotext
from .exported import (INSTALL_FOLDER, PREVIEW_SUFFIX, SHORTHASH_LENGTH, SharedInteraction, a1111_shorthash,
                       description_line, open_export)

# Civitai's "Base model" choice per ModelSpec base architecture
CIVITAI_BASE_MODELS = {
    "stable-diffusion-v1": "SD 1.5",
    "stable-diffusion-v2-512": "SD 2.1",
    "stable-diffusion-v2-768-v": "SD 2.1 768",
    "stable-diffusion-xl-v1-base": "SDXL 1.0",
}
CIVITAI_CREATE_URL = "https://civitai.com/models/create"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # fixed, so the same export gives the same zip


def ti_hashes(names_to_files: Mapping[str, str | os.PathLike]) -> str:
    """The value of the infotext `TI hashes` entry: `name: shorthash` pairs, comma separated."""
    return ", ".join(f"{name}: {a1111_shorthash(path)}" for name, path in names_to_files.items())


def preview_infotext(interaction: SharedInteraction, preview: Path) -> str:
    """The preview's infotext with `TI hashes` for all three files, keeping what the image already says."""
    from PIL import Image

    existing = png_infotext(preview)
    with Image.open(preview) as image:
        size = f"{image.width}x{image.height}"
    prompt, negative, params = parse_infotext(existing, min_params=1) if existing else (interaction.example_prompt(), "", {})
    base = interaction.manifest.base_model
    base_hash = base.get("sha256")
    defaults = {
        "Size": size,
        "Model hash": base_hash[:SHORTHASH_LENGTH] if isinstance(base_hash, str) else None,
        "Model": base.get("name") or None,
    }
    params = {**defaults, **params}
    params["TI hashes"] = ti_hashes({interaction.names[role]: interaction.files[role] for role in ROLES})
    params.setdefault("Version", f"InterInv {__version__}")
    return a1111_infotext(prompt, negative, params)


def _png_with_infotext(preview: Path, infotext: str) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    with Image.open(preview) as image:
        image.load()
        info = PngInfo()
        for key, value in getattr(image, "text", {}).items():
            if key != "parameters":
                info.add_text(key, value)
        info.add_text("parameters", infotext)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def bundle_readme(interaction: SharedInteraction) -> str:
    """The README of a Civitai bundle: triggers, template, base model, and how to upload it."""
    m = interaction.manifest
    base = m.base_model.get("name") or "unknown"
    civitai_base = CIVITAI_BASE_MODELS.get(interaction.base_architecture, "(pick the base model you trained on)")
    rows = "\n".join(
        f"| `{interaction.names[role]}` | {role} | `{interaction.files[role].name}` | "
        f"`{a1111_shorthash(interaction.files[role])}` |"
        for role in ROLES
    )
    previews = ", ".join(f"`{p.name}`" for p in interaction.previews.values()) or "none"
    return f"""# {interaction.slug}: an interaction for Stable Diffusion (InterInv)

{description_line(m)}

Three textual-inversion embeddings that work together. Use all three, in this template:

    {m.template}

Replace `{{o1}}` and `{{o2}}` with the two subjects; the embeddings were trained with
"{m.subjects[0]}" and "{m.subjects[1]}". Example:

    {interaction.example_prompt()}

| trigger word | role | file | A1111 short hash |
|---|---|---|---|
{rows}

Base model: {base} ({m.architecture}, family {m.family}).
Manifest: `{interaction.manifest_path.name}` (template, subjects, base model, full sha256 hashes).
Preview images: {previews}. Their `parameters` text holds the A1111 infotext with `TI hashes`,
so Civitai links the images to the embeddings.

## Uploading to Civitai

Civitai has no upload API, so this bundle is uploaded by hand at {CIVITAI_CREATE_URL}:

- Type: Embedding (TextualInversion). Base model: {civitai_base}.
- Trigger words: {', '.join(f'`{n}`' for n in interaction.names.values())}.
- Files: the three `.safetensors` files. Images: the preview PNGs.
- Description: paste the template and the example prompt above.

## Installing

- AUTOMATIC1111 / Forge: `interinv install {interaction.slug}.zip --embeddings-dir <webui>/embeddings`, or copy the
  three `.safetensors` files into `embeddings/{INSTALL_FOLDER}/{interaction.slug}/`. The trigger word is the file name.
- ComfyUI: copy the files into `models/embeddings/` and write `embedding:{interaction.names['r']}` (and so on) in
  the prompt.
"""


def write_bundle(out_dir: str | os.PathLike, zip_path: str | os.PathLike) -> Path:
    """A Civitai-ready zip: the three files, previews with A1111 infotext, a README and the manifest."""
    interaction = open_export(out_dir)
    if not interaction.previews:
        raise InterInvError(
            f"'{interaction.folder}' has no preview images ('<name>{PREVIEW_SUFFIX}'). Civitai needs at least one "
            "image per model version; export the interaction with previews, or add a "
            f"'{interaction.names['r']}{PREVIEW_SUFFIX}' of your own."
        )
    entries: list[tuple[str, bytes]] = [(path.name, path.read_bytes()) for path in interaction.files.values()]
    entries += [
        (preview.name, _png_with_infotext(preview, preview_infotext(interaction, preview)))
        for preview in interaction.previews.values()
    ]
    entries.append(("README.md", bundle_readme(interaction).encode("utf-8")))
    entries.append((interaction.manifest_path.name, interaction.manifest_path.read_bytes()))
    return write_atomic(Path(zip_path), lambda tmp: _write_zip(tmp, entries))


def _write_zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
