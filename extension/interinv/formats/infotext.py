"""A1111 infotext: the `parameters` text chunk of a PNG, written and read the way A1111 does."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping

from PIL import Image, PngImagePlugin

from ..atomic import write_atomic

# One `Key: value` pair of an A1111 infotext parameter line; quoted values are JSON strings
_INFOTEXT_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
A1111_MIN_PARAMS = 3  # A1111 reads a last line with fewer pairs as part of the prompt


def _infotext_quote(value: object) -> str:
    text = str(value)
    if "," in text or "\n" in text or ":" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def a1111_infotext(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    """Generation parameters in A1111's infotext format: prompt, `Negative prompt:` line, `Key: value` line."""
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    line = ", ".join(f"{key}: {_infotext_quote(value)}" for key, value in params.items() if value is not None)
    return f"{prompt}{negative}\n{line}".strip()


def parse_infotext(text: str, min_params: int = A1111_MIN_PARAMS) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, parameters) read the way A1111 reads its infotext.

    A1111 takes a last line with fewer than `min_params` pairs for part of the prompt; pass 1 to read
    the short parameter lines that other tools write.
    """
    *lines, last = text.strip().split("\n")
    if not lines or len(_INFOTEXT_PARAM.findall(last)) < min_params:
        lines.append(last)
        last = ""
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    params = {}
    for key, value in _INFOTEXT_PARAM.findall(last):
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        params[key.strip()] = value
    return "\n".join(prompt), "\n".join(negative), params


def png_infotext(path: str | os.PathLike) -> str | None:
    """The `parameters` text chunk of a PNG (A1111's infotext), if it has one."""
    with Image.open(path) as image:
        return getattr(image, "text", {}).get("parameters")


def png_prompt(path: str | os.PathLike) -> str | None:
    """The prompt in a PNG's infotext, also when its parameter line is shorter than A1111 expects."""
    infotext = png_infotext(path)
    return parse_infotext(infotext, min_params=1)[0] if infotext else None


def save_png(path: Path, image: Image.Image, parameters: str | None = None) -> Path:
    """A PNG written atomically, with an A1111-style `parameters` text chunk when given."""
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))
