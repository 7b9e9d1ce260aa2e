"""Share an exported interaction: push it to the Hugging Face Hub, write a Civitai-ready zip, install one.

An exported interaction is a folder with three embedding files (`<slug>_p1`, `<slug>_r`, `<slug>_p2`),
the manifest `<slug>.interaction.json` and optional `<name>.preview.png` sidecars. The same three
functions serve the CLI (`interinv push`, `bundle`, `install`) and the WebUI.

Civitai has no public upload API (its REST API only reads models, versions, images and tags), so
`write_bundle` makes the zip that the user uploads by hand on the Civitai "create model" page.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

from .. import __version__
from ..atomic import write_atomic, write_error, write_text_atomic
from ..errors import InterInvError
from ..data.exemplars import check_template, fill_template
from ..formats.embedding_files import EmbeddingFile, file_sha256, read_embedding, write_embedding
from ..formats.infotext import a1111_infotext, parse_infotext, png_infotext, png_prompt
from ..formats.manifest import load_manifest
from ..core.tokens import ROLES, check_slug

MANIFEST_SUFFIX = ".interaction.json"
PREVIEW_SUFFIX = ".preview.png"
EMBEDDING_SUFFIX = ".safetensors"
SHORTHASH_LENGTH = 10  # A1111's short hash: the first 10 hex digits of the file's sha256
HUB_TAGS = ("textual-inversion", "stable-diffusion", "interaction", "text-to-image", "interinv")
# The license of each family's reference base model; an embedding is used under it
FAMILY_LICENSES = {"sd1": "creativeml-openrail-m", "sd2": "openrail++", "sdxl": "openrail++"}
# Hub ids of the reference base model per ModelSpec base architecture
REFERENCE_BASE_MODELS = {
    "stable-diffusion-v1": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "stable-diffusion-v2-512": "stabilityai/stable-diffusion-2-1-base",
    "stable-diffusion-v2-768-v": "stabilityai/stable-diffusion-2-1",
    "stable-diffusion-xl-v1-base": "stabilityai/stable-diffusion-xl-base-1.0",
}
# Civitai's "Base model" choice per ModelSpec base architecture
CIVITAI_BASE_MODELS = {
    "stable-diffusion-v1": "SD 1.5",
    "stable-diffusion-v2-512": "SD 2.1",
    "stable-diffusion-v2-768-v": "SD 2.1 768",
    "stable-diffusion-xl-v1-base": "SDXL 1.0",
}
CIVITAI_CREATE_URL = "https://civitai.com/models/create"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # fixed, so the same export gives the same zip
MAX_ZIP_BYTES = 256 * 1024 * 1024  # uncompressed size a bundle may have; three embeddings are a few kB
HUB_DOWNLOAD_PATTERNS = ["*" + EMBEDDING_SUFFIX, "*.pt", "*" + MANIFEST_SUFFIX, "*" + PREVIEW_SUFFIX]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
INSTALL_FOLDER = "interactions"  # installs go to <embeddings_dir>/interactions/<slug>/


# ---- the exported interaction ------------------------------------------------------------------


@dataclass(frozen=True)
class SharedInteraction:
    """An exported interaction on disk, checked against its manifest."""

    folder: Path
    manifest_path: Path
    manifest: dict[str, Any]
    files: dict[str, Path]  # role -> embedding file
    previews: dict[str, Path]  # role -> preview sidecar, for the roles that have one

    @property
    def slug(self) -> str:
        return self.manifest["slug"]

    @property
    def names(self) -> dict[str, str]:
        """Role -> trigger word (the file stem)."""
        return {role: self.manifest["tokens"][role]["name"] for role in ROLES}

    @property
    def base_architecture(self) -> str:
        """The ModelSpec id of the base model, without the `/textual-inversion` suffix."""
        return self.manifest["architecture"].split("/")[0]

    def example_prompt(self) -> str:
        """The template filled with the trained subjects."""
        o1, o2 = self.manifest["subjects"]
        return fill_template(self.manifest["template"], o1=o1, o2=o2)


def a1111_shorthash(path: str | os.PathLike) -> str:
    """The short hash that A1111 shows for an embedding and writes into `TI hashes`."""
    return file_sha256(path)[:SHORTHASH_LENGTH]


def open_export(source: str | os.PathLike) -> SharedInteraction:
    """An export folder (or its manifest file), with every file present and matching its hash."""
    source = Path(source)
    if not source.exists():
        raise InterInvError(f"'{source}' does not exist. Give the folder that `interinv export` wrote.")
    manifest = load_manifest(source)
    folder = Path(manifest.pop("_folder"))
    manifest_path = source if source.is_file() else next(folder.glob("*" + MANIFEST_SUFFIX))
    _check_manifest(manifest, manifest_path)
    files = {}
    for role in ROLES:
        entry = manifest["tokens"][role]
        path = folder / entry["file"]
        if not path.is_file():
            raise InterInvError(
                f"{manifest_path}: tokens.{role}.file names '{entry['file']}', which is not in {folder}. "
                "Export the interaction again, or copy the missing file next to the manifest."
            )
        actual = file_sha256(path)
        if actual != entry["sha256"]:
            raise InterInvError(
                f"'{path}' does not match its manifest: sha256 {actual[:12]}... but {manifest_path.name} "
                f"records {entry['sha256'][:12]}... (tokens.{role}.sha256). The file was changed or damaged; "
                "export the interaction again."
            )
        files[role] = path
    previews = {role: folder / f"{path.stem}{PREVIEW_SUFFIX}" for role, path in files.items()}
    previews = {role: path for role, path in previews.items() if path.is_file()}
    return SharedInteraction(folder, manifest_path, manifest, files, previews)


def _check_manifest(manifest: Mapping[str, Any], path: Path) -> None:
    """Every field this module relies on, checked, since a shared manifest may come from a stranger."""
    for key, kind in (("family", str), ("architecture", str), ("subjects", list), ("embedding_dims", dict)):
        if not isinstance(manifest.get(key), kind):
            raise InterInvError(f"{path}: field '{key}' is missing or not a {kind.__name__}. Export the interaction again.")
    slug = check_slug(manifest["slug"], f"slug in {path}")
    if len(manifest["subjects"]) != 2 or not all(isinstance(s, str) for s in manifest["subjects"]):
        raise InterInvError(f"{path}: 'subjects' must be two words, e.g. [\"man\", \"woman\"].")
    check_template(manifest["template"], ("o1", "o2"), f"{path} 'template'")
    for role in ROLES:
        entry = manifest["tokens"][role]
        name = f"{slug}_{role}"
        if entry["name"] != name:
            raise InterInvError(f"{path}: tokens.{role}.name must be '{name}'.")
        if entry.get("file") not in (name + EMBEDDING_SUFFIX, name + ".pt"):
            raise InterInvError(
                f"{path}: tokens.{role}.file must be '{name}{EMBEDDING_SUFFIX}' (the trigger word is the file stem), "
                f"got {entry.get('file')!r}."
            )
        if not isinstance(entry.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise InterInvError(f"{path}: tokens.{role}.sha256 must be 64 lowercase hex digits.")
        if not isinstance(entry.get("vectors"), int) or entry["vectors"] < 1:
            raise InterInvError(f"{path}: tokens.{role}.vectors must be a positive integer.")
        if name not in manifest["template"].split():
            raise InterInvError(f"{path}: the template '{manifest['template']}' does not use the trigger '{name}'.")


# ---- preview infotext with TI hashes -----------------------------------------------------------


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
    base = interaction.manifest.get("base_model") or {}
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


# ---- Civitai bundle ----------------------------------------------------------------------------


def bundle_readme(interaction: SharedInteraction) -> str:
    """The README of a Civitai bundle: triggers, template, base model, and how to upload it."""
    m = interaction.manifest
    base = (m.get("base_model") or {}).get("name") or "unknown"
    civitai_base = CIVITAI_BASE_MODELS.get(interaction.base_architecture, "(pick the base model you trained on)")
    rows = "\n".join(
        f"| `{interaction.names[role]}` | {role} | `{interaction.files[role].name}` | "
        f"`{a1111_shorthash(interaction.files[role])}` |"
        for role in ROLES
    )
    previews = ", ".join(f"`{p.name}`" for p in interaction.previews.values()) or "none"
    return f"""# {interaction.slug}: an interaction for Stable Diffusion (InterInv)

{_description_line(m)}

Three textual-inversion embeddings that work together. Use all three, in this template:

    {m['template']}

Replace `{{o1}}` and `{{o2}}` with the two subjects; the embeddings were trained with
"{m['subjects'][0]}" and "{m['subjects'][1]}". Example:

    {interaction.example_prompt()}

| trigger word | role | file | A1111 short hash |
|---|---|---|---|
{rows}

Base model: {base} ({m['architecture']}, family {m['family']}).
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


def _description_line(manifest: Mapping[str, Any]) -> str:
    description = manifest.get("description") or ""
    if not description:
        return "An interaction between two subjects."
    o1, o2 = manifest["subjects"]
    names = {role: manifest["tokens"][role]["name"] for role in ROLES}
    return f"The interaction: {plain_prompt(fill_template(manifest['template'], o1=o1, o2=o2), names, description)}."


def _word_pattern(word: str) -> re.Pattern[str]:
    """`word` standing alone, not as part of a longer word."""
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


def plain_prompt(prompt: str, names: Mapping[str, str], description: str) -> str:
    """The prompt in plain words: the R trigger becomes the description, the pose triggers go away."""
    for role, name in names.items():
        replacement = description if role == "r" else ""
        prompt = _word_pattern(name).sub(lambda _, text=replacement: text, prompt)
    return re.sub(r"\s+([,.;:!?])", r"\1", " ".join(prompt.split()))


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


# ---- Hugging Face Hub --------------------------------------------------------------------------


def model_card(interaction: SharedInteraction, repo_id: str, license: str | None = None):
    """The Hub model card: YAML front matter (base model, tags, license, widget) and usage for three tools."""
    from huggingface_hub import ModelCard, ModelCardData

    m = interaction.manifest
    base_name = (m.get("base_model") or {}).get("name") or ""
    reference = REFERENCE_BASE_MODELS.get(interaction.base_architecture)
    base_model = base_name if _REPO_ID.fullmatch(base_name) else reference
    prompt = interaction.example_prompt()
    shown = {preview.name: png_prompt(preview) for preview in interaction.previews.values()}
    # the widget shows only prompts that use the template: P1/P2 previews show one subject alone
    widget = [
        {"text": text, "output": {"url": name}}
        for name, text in shown.items()
        if text and all(_word_pattern(trigger).search(text) for trigger in interaction.names.values())
    ] or [{"text": prompt}]
    data = ModelCardData(
        base_model=base_model,
        license=license or FAMILY_LICENSES.get(m["family"]),
        tags=list(HUB_TAGS),
        library_name="diffusers",
        pipeline_tag="text-to-image",
        widget=widget,
        instance_prompt=m["template"],
        inference=False,  # the hosted widget cannot place three embeddings in one prompt
    )
    body = _card_body(interaction, repo_id, base_model, base_name)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _card_body(interaction: SharedInteraction, repo_id: str, base_model: str | None, base_name: str) -> str:
    m = interaction.manifest
    names = interaction.names
    stems = ", ".join(f'"{names[role]}"' for role in ROLES)
    rows = "\n".join(
        f"| `{names[role]}` | {role} | [`{interaction.files[role].name}`]({interaction.files[role].name}) | "
        f"{m['tokens'][role]['vectors']} | `{a1111_shorthash(interaction.files[role])}` |"
        for role in ROLES
    )
    prompt = interaction.example_prompt()
    comfy_prompt = prompt
    for name in names.values():
        comfy_prompt = re.sub(rf"(?<![\w:]){re.escape(name)}(?!\w)", f"embedding:{name}", comfy_prompt)
    trained_on = f" The embeddings were trained on `{base_name}`." if base_name and base_name != base_model else ""
    return f"""# {interaction.slug}: an interaction learned with InterInv

{_description_line(m)}

The interaction is three textual-inversion embeddings that work together: `{names['p1']}` (the pose of the
first subject), `{names['r']}` (the relation) and `{names['p2']}` (the pose of the second subject). Each is one
file, because A1111, Forge, ComfyUI and InvokeAI take the trigger word from the file name.

## Prompt template

```
{m['template']}
```

Replace `{{o1}}` and `{{o2}}` with the two subjects (trained with "{m['subjects'][0]}" and
"{m['subjects'][1]}"). Example: `{prompt}`

| trigger word | role | file | vectors | A1111 short hash |
|---|---|---|---|---|
{rows}

Base model: `{base_model}` ({m['architecture']}).{trained_on} The manifest
`{interaction.manifest_path.name}` records the template, subjects, base model and the sha256 of each file.

## AUTOMATIC1111 / Forge

Install with InterInv (`interinv install {repo_id} --embeddings-dir stable-diffusion-webui/embeddings`), or
download the three `.safetensors` files into `stable-diffusion-webui/embeddings/{INSTALL_FOLDER}/{interaction.slug}/`
and refresh the embeddings. Prompt:

```
{prompt}
```

## ComfyUI

Put the three `.safetensors` files in `ComfyUI/models/embeddings/` and write each trigger word as
`embedding:<name>` in the CLIP Text Encode prompt:

```
{comfy_prompt}
```

## diffusers

```python
import torch
from diffusers import {_pipeline_class(m['family'])}
from huggingface_hub import hf_hub_download{_diffusers_imports(m['family'])}

pipe = {_pipeline_class(m['family'])}.from_pretrained("{base_model}", torch_dtype=torch.float16).to("cuda")
for stem in [{stems}]:
    path = hf_hub_download("{repo_id}", stem + ".safetensors")
{_diffusers_load(m['family'])}
image = pipe("{prompt}").images[0]
```
"""


def _pipeline_class(family: str) -> str:
    return "StableDiffusionXLPipeline" if family == "sdxl" else "StableDiffusionPipeline"


def _diffusers_imports(family: str) -> str:
    return "\nfrom safetensors.torch import load_file" if family == "sdxl" else ""


def _diffusers_load(family: str) -> str:
    """The loop body that loads one file: one call per text encoder for SDXL."""
    if family == "sdxl":
        return (
            "    state = load_file(path)\n"
            "    pipe.load_textual_inversion(state[\"clip_l\"], token=stem, text_encoder=pipe.text_encoder, "
            "tokenizer=pipe.tokenizer)\n"
            "    pipe.load_textual_inversion(state[\"clip_g\"], token=stem, text_encoder=pipe.text_encoder_2, "
            "tokenizer=pipe.tokenizer_2)"
        )
    return "    pipe.load_textual_inversion(path, token=stem)"


def push_to_hub(
    out_dir: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    license: str | None = None,
) -> str:
    """Upload the interaction and its model card to a Hub model repo in one commit; returns the commit URL.

    The token comes from `token`, else `HF_TOKEN` or the `hf auth login` token. It is sent only in the
    Authorization header and never written into the card, the files or any message.
    """
    from huggingface_hub import HfApi, get_token

    if not _REPO_ID.fullmatch(repo_id):
        raise InterInvError(f"Hub repo id '{repo_id}' must look like 'user/name' (letters, digits, '-', '_', '.').")
    interaction = open_export(out_dir)
    token = token or get_token()
    if not token:
        raise InterInvError(
            "No Hugging Face token. Set the HF_TOKEN environment variable to a write token, or run `hf auth login`."
        )
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="interinv-push-") as staging:
        staged = Path(staging)
        for path in (*interaction.files.values(), *interaction.previews.values(), interaction.manifest_path):
            shutil.copyfile(path, staged / path.name)
        model_card(interaction, repo_id, license).save(staged / "README.md")
        with _hub_errors(api.endpoint, repo_id, token):
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=staged,
                commit_message=f"Upload interaction {interaction.slug} (InterInv {__version__})",
            )
    return commit.commit_url


@contextlib.contextmanager
def _hub_errors(endpoint: str, repo_id: str, token: str | None) -> Iterator[None]:
    """Turn Hub and network failures into an InterInvError whose message cannot contain the token."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        message = f"Cannot reach {endpoint}: HF_HUB_OFFLINE is set. Unset it to use the Hub."
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        hint = {
            401: "The token was refused; set HF_TOKEN to a valid token or run `hf auth login`.",
            403: "The token may not write to this repo; use a token with write access to its owner.",
            404: "The repo does not exist or is private; check the id and the token.",
        }.get(status, "Try again later, or check the Hub's status page.")
        server = f" ({error.server_message.strip()})" if getattr(error, "server_message", None) else ""
        message = f"The Hub at {endpoint} answered {status} for '{repo_id}'{server}. {hint}"
    except Exception as error:
        if not _is_network_error(error):
            raise
        message = f"Cannot reach {endpoint} for '{repo_id}' ({type(error).__name__}). Check the connection and try again."
    else:
        return
    if token:
        message = message.replace(token, "***")
    raise InterInvError(message) from None


def _is_network_error(error: Exception) -> bool:
    """Connection failures, whichever HTTP library this huggingface_hub version uses."""
    return isinstance(error, ConnectionError) or type(error).__module__.split(".")[0] in ("httpx", "httpx2", "requests")


# ---- install -----------------------------------------------------------------------------------


def install_interaction(
    source: str | os.PathLike,
    embeddings_dir: str | os.PathLike,
    family: str | None = None,
    width: int | None = None,
    force: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Install a bundle zip, Hub repo id or export folder into `<embeddings_dir>/interactions/<slug>/`.

    `family` ("sd1", "sd2", "sdxl") and `width` (the model's token-embedding width; 2048 for SDXL, as
    A1111 reports it) are checked before anything is written. An existing install is replaced only
    with `force`. Only safetensors are read; a `.pt` file is read with `weights_only=True` and
    installed as safetensors.
    """
    embeddings_dir = Path(embeddings_dir)
    with _local_folder(source, token, endpoint) as folder:
        interaction = open_export(folder)
        embeddings = {role: read_embedding(path) for role, path in interaction.files.items()}
        _check_compatible(interaction, embeddings, family, width)
        target = embeddings_dir / INSTALL_FOLDER / interaction.slug
        if target.exists() and not force:
            raise InterInvError(f"'{target}' already exists. Pass --force to replace it, or remove it first.")
        return _install(interaction, embeddings, target)


def _check_compatible(
    interaction: SharedInteraction, embeddings: Mapping[str, EmbeddingFile], family: str | None, width: int | None
) -> None:
    m = interaction.manifest
    where = interaction.manifest_path.name
    if family is not None and m["family"] != family:
        raise InterInvError(
            f"'{interaction.slug}' was trained for the {m['family']} family ({m['architecture']}, {where}), "
            f"but the model is {family}. Embeddings only work with the family they were trained on; "
            "load a matching checkpoint, or install an interaction trained for it."
        )
    dims = m["embedding_dims"]
    for role, embedding in embeddings.items():
        name = interaction.files[role].name
        if embedding.metadata.get("interinv.family", m["family"]) != m["family"]:
            raise InterInvError(
                f"'{name}' says family {embedding.metadata['interinv.family']}, but {where} says {m['family']}. "
                "Export the interaction again."
            )
        widths = _widths_by_encoder(embedding, dims)
        if widths != dict(dims):
            raise InterInvError(
                f"'{name}' holds vectors of width {embedding.widths}, but {where} says embedding_dims {dict(dims)}. "
                "Export the interaction again."
            )
        if embedding.num_vectors != m["tokens"][role]["vectors"]:
            raise InterInvError(
                f"'{name}' holds {embedding.num_vectors} vector(s), but {where} says tokens.{role}.vectors = "
                f"{m['tokens'][role]['vectors']}. Export the interaction again."
            )
        if width is not None and sum(widths.values()) != width:
            raise InterInvError(
                f"'{name}' is {sum(widths.values())} wide, but the model's token embeddings are {width} wide "
                f"(768: SD1, 1024: SD2, 2048: SDXL). This interaction was trained for {m['architecture']}; "
                "load a matching checkpoint, or install an interaction trained for this one."
            )


def _widths_by_encoder(embedding: EmbeddingFile, dims: Mapping[str, int]) -> dict[str, int]:
    """Encoder key -> width: SDXL files name their encoders, SD1/SD2 files hold one tensor."""
    if embedding.format == "sdxl":
        return embedding.widths
    return {next(iter(dims)): next(iter(embedding.widths.values()))} if len(dims) == 1 else embedding.widths


def _install(interaction: SharedInteraction, embeddings: Mapping[str, EmbeddingFile], target: Path) -> Path:
    """Write everything into a hidden folder beside the target, then rename it into place."""
    manifest = json.loads(json.dumps(interaction.manifest))
    family = manifest["family"]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{interaction.slug}.installing-", dir=target.parent))
    except OSError as exc:
        raise write_error(exc, target.parent) from exc
    old: Path | None = None
    try:
        for role, path in interaction.files.items():
            name = interaction.names[role]
            if path.suffix == EMBEDDING_SUFFIX:
                shutil.copyfile(path, staging / path.name)
            else:  # a .pt read with weights_only=True is installed as safetensors
                converted = write_embedding(staging / f"{name}{EMBEDDING_SUFFIX}", embeddings[role].tensors, family,
                                            {"interinv.role": role, "interinv.group": interaction.slug,
                                             "interinv.family": family})
                manifest["tokens"][role].update(file=converted.name, sha256=file_sha256(converted))
            # the WebUI's card metadata (`<stem>.json`): the description shows the template
            card = {"description": manifest["template"], "notes": _description_line(manifest)}
            write_text_atomic(staging / f"{name}.json", json.dumps(card, indent=4, ensure_ascii=False))
        for preview in interaction.previews.values():
            shutil.copyfile(preview, staging / preview.name)
        write_text_atomic(staging / interaction.manifest_path.name, json.dumps(manifest, indent=2) + "\n")
        _usual_permissions(staging)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{interaction.slug}.replaced-", dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(staging, target)
    except OSError as exc:
        if old is not None and not target.exists():
            os.replace(old / "previous", target)
        raise write_error(exc, target.parent) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _usual_permissions(folder: Path) -> None:
    """Temporary folders and files are private to the owner; an install gets the modes the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


@contextlib.contextmanager
def _local_folder(source: str | os.PathLike, token: str | None, endpoint: str | None) -> Iterator[Path]:
    """A local folder holding the interaction: the folder itself, a safely extracted zip, or a Hub download."""
    path = Path(source)
    if path.is_dir() or (path.is_file() and path.name.endswith(MANIFEST_SUFFIX)):
        yield path if path.is_dir() else path.parent
        return
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InterInvError(f"'{path}' is not a zip file. Give a bundle zip, an export folder or a Hub repo id.")
    if not path.is_file() and not _REPO_ID.fullmatch(str(source)):
        raise InterInvError(f"'{source}' is not an existing folder or zip, nor a Hub repo id like 'user/name'.")
    with tempfile.TemporaryDirectory(prefix="interinv-install-") as tmp:
        if not path.is_file():
            yield _download(str(source), Path(tmp), token, endpoint)
            return
        try:
            yield _single_root(_extract_zip(path, Path(tmp)))
        except InterInvError as exc:  # name the file in the zip, not in the temporary folder it was unpacked to
            raise InterInvError(str(exc).replace(f"{tmp}{os.sep}", f"{path}:").replace(tmp, str(path))) from exc


def _download(repo_id: str, folder: Path, token: str | None, endpoint: str | None) -> Path:
    """The interaction files of a Hub model repo (embeddings, manifest, previews), downloaded into `folder`."""
    from huggingface_hub import get_token, snapshot_download

    token = token or get_token()  # None is fine for a public repo
    with _hub_errors(endpoint or "the Hugging Face Hub", repo_id, token):
        snapshot_download(
            repo_id,
            repo_type="model",
            local_dir=folder,
            allow_patterns=HUB_DOWNLOAD_PATTERNS,
            token=token,
            endpoint=endpoint,
            cache_dir=folder / ".cache",
        )
    return folder


def _extract_zip(zip_path: Path, folder: Path) -> Path:
    """Extract a zip after checking every entry: no absolute paths, no `..`, no links, a bounded size."""
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        total = 0
        for info in members:
            _check_zip_entry(zip_path, info)
            total += info.file_size
        if total > MAX_ZIP_BYTES:
            raise InterInvError(
                f"'{zip_path}' would unpack to {total} bytes, more than the {MAX_ZIP_BYTES} a bundle may hold. "
                "It is not an InterInv bundle."
            )
        for info in members:
            if info.is_dir():
                continue
            destination = folder.joinpath(*PurePosixPath(info.filename).parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InterInvError(
                    f"'{zip_path}' is damaged: its entry '{info.filename}' cannot be unpacked ({exc}). "
                    "Download or copy the zip again."
                ) from exc
    return folder


def _check_zip_entry(zip_path: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    mode = info.external_attr >> 16
    problem = None
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        problem = "is an absolute path"
    elif ".." in parts:
        problem = "points outside the folder ('..')"
    elif stat.S_ISLNK(mode):
        problem = "is a symbolic link"
    elif "\\" in name or "\x00" in name:
        problem = "has a backslash or NUL in its name"
    if problem:
        raise InterInvError(
            f"Refused '{zip_path}': the entry '{name}' {problem}. A bundle holds only plain files; "
            "this zip was not made by `interinv bundle` and may be malicious."
        )


def _single_root(folder: Path) -> Path:
    """The folder itself, or its only subfolder when the zip wrapped everything in one."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder
