"""The few places where gradio 3.41 (A1111), 4.40 (Forge) and later differ; everything else uses the common subset."""

from __future__ import annotations

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])


def js(function_name: str) -> dict:
    """The event keyword that runs a JS function first: `_js` on gradio 3, `js` from 4 on."""
    return {"_js": function_name} if GRADIO_MAJOR < 4 else {"js": function_name}


def file_path(value) -> str:
    """gr.File gives tempfile wrappers on 3.x and str paths on 4.x."""
    return str(getattr(value, "name", value))


def file_paths(values) -> list[str]:
    if values is None:
        return []
    return [file_path(v) for v in (values if isinstance(values, list) else [values])]
