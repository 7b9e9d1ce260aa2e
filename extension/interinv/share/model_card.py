"""The Hugging Face Hub model card of an exported interaction: front matter and usage in three tools."""

from __future__ import annotations

import re

from ..core.tokens import ROLES
from ..formats.infotext import png_prompt
from .exported import INSTALL_FOLDER, REPO_ID, SharedInteraction, a1111_shorthash, description_line, word_pattern

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


def model_card(interaction: SharedInteraction, repo_id: str, license: str | None = None):
    """The Hub model card: YAML front matter (base model, tags, license, widget) and usage for three tools."""
    from huggingface_hub import ModelCard, ModelCardData

    m = interaction.manifest
    base_name = m.base_model.get("name") or ""
    reference = REFERENCE_BASE_MODELS.get(interaction.base_architecture)
    base_model = base_name if REPO_ID.fullmatch(base_name) else reference
    prompt = interaction.example_prompt()
    shown = {preview.name: png_prompt(preview) for preview in interaction.previews.values()}
    # the widget shows only prompts that use the template: P1/P2 previews show one subject alone
    widget = [
        {"text": text, "output": {"url": name}}
        for name, text in shown.items()
        if text and all(word_pattern(trigger).search(text) for trigger in interaction.names.values())
    ] or [{"text": prompt}]
    data = ModelCardData(
        base_model=base_model,
        license=license or FAMILY_LICENSES.get(m.family),
        tags=list(HUB_TAGS),
        library_name="diffusers",
        pipeline_tag="text-to-image",
        widget=widget,
        instance_prompt=m.template,
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
        f"{m.tokens[role].vectors} | `{a1111_shorthash(interaction.files[role])}` |"
        for role in ROLES
    )
    prompt = interaction.example_prompt()
    comfy_prompt = prompt
    for name in names.values():
        comfy_prompt = re.sub(rf"(?<![\w:]){re.escape(name)}(?!\w)", f"embedding:{name}", comfy_prompt)
    trained_on = f" The embeddings were trained on `{base_name}`." if base_name and base_name != base_model else ""
    return f"""# {interaction.slug}: an interaction learned with InterInv

{description_line(m)}

The interaction is three textual-inversion embeddings that work together: `{names['p1']}` (the pose of the
first subject), `{names['r']}` (the relation) and `{names['p2']}` (the pose of the second subject). Each is one
file, because A1111, Forge, ComfyUI and InvokeAI take the trigger word from the file name.

## Prompt template

```
{m.template}
```

Replace `{{o1}}` and `{{o2}}` with the two subjects (trained with "{m.subjects[0]}" and
"{m.subjects[1]}"). Example: `{prompt}`

| trigger word | role | file | vectors | A1111 short hash |
|---|---|---|---|---|
{rows}

Base model: `{base_model}` ({m.architecture}).{trained_on} The manifest
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
from diffusers import {_pipeline_class(m.family)}
from huggingface_hub import hf_hub_download{_diffusers_imports(m.family)}

pipe = {_pipeline_class(m.family)}.from_pretrained("{base_model}", torch_dtype=torch.float16).to("cuda"){_diffusers_setup(m.family)}
for stem in [{stems}]:
    path = hf_hub_download("{repo_id}", stem + ".safetensors")
{_diffusers_load(m.family)}
image = pipe("{prompt}").images[0]
```
"""


def _pipeline_class(family: str) -> str:
    return "StableDiffusionXLPipeline" if family == "sdxl" else "StableDiffusionPipeline"


def _diffusers_imports(family: str) -> str:
    return "\nfrom safetensors.torch import load_file" if family == "sdxl" else ""


def _diffusers_setup(family: str) -> str:
    """SDXL base's text_encoder_2 config has the legacy eos_token_id 2, with which transformers pools at the highest
    token id: a loaded word's, not the end token's. Training pooled at the end token, as A1111 and ComfyUI do."""
    if family != "sdxl":
        return ""
    return "\npipe.text_encoder_2.text_model.eos_token_id = pipe.tokenizer_2.eos_token_id  # pool at the end token"


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
