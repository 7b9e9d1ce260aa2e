"""The few places where gradio 3.41 (A1111), 4.40 (Forge) and later differ, everything else using the common subset;
and which host adapter serves the WebUI we run in."""

from __future__ import annotations

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])


def js(function_name: str) -> dict:
    """The event keyword that runs a JS function first: `_js` with its name on gradio 3; `js` from 4 on, as a function
    with a block body (gradio 4.40, Forge's, runs neither a dotted name nor an arrow with an expression body)."""
    if GRADIO_MAJOR < 4:
        return {"_js": function_name}
    return {"js": f"(...args) => {{ return {function_name}(...args); }}"}


def file_path(value) -> str:
    """gr.File gives tempfile wrappers on 3.x and str paths on 4.x."""
    return str(getattr(value, "name", value))


def webui_adapter():
    """The host adapter module of the WebUI we run in: forge_host inside Forge, a1111_host elsewhere. Each has
    refusal(), loaded_family(), controlnet_missing(family) and reload_embeddings(); the WebUI services (options,
    progress, queue) are a1111_host's in both, since Forge kept A1111's."""
    from ..hosts import a1111_host, forge_host

    return forge_host if a1111_host.is_forge() else a1111_host


def webui_host():
    """The Host on the WebUI's loaded checkpoint: ForgeHost inside Forge, A1111Host elsewhere."""
    from ..hosts import a1111_host, forge_host

    return forge_host.ForgeHost() if webui_adapter() is forge_host else a1111_host.A1111Host()


def file_paths(values) -> list[str]:
    if values is None:
        return []
    return [file_path(v) for v in (values if isinstance(values, list) else [values])]
