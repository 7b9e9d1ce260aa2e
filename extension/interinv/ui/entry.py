"""What scripts/interinv.py registers with the WebUI: the tab, the settings, the HTTP API and the Extra Networks page."""

from __future__ import annotations

import html
import traceback

TAB_TITLE = "Interaction Inversion"
TAB_ID = "interinv"


def ui_tabs():
    import gradio as gr

    try:
        from . import tab
        from .compat import webui_adapter

        blocks = tab.build(refusal=webui_adapter().refusal())
    except Exception as exc:  # a broken tab must still show up and say why
        details = html.escape("".join(traceback.format_exception_only(type(exc), exc)))
        with gr.Blocks(analytics_enabled=False) as blocks:
            gr.HTML(f"<div class='interinv-error'><p>InterInv could not build its tab:</p><pre>{details}</pre>"
                    "<p>Check the console for the full error and report it with your WebUI version.</p></div>")
    return [(blocks, TAB_TITLE, TAB_ID)]


def ui_settings():
    import gradio as gr

    from modules import shared

    section = ("interinv", "Interaction Inversion")
    shared.opts.add_option("interinv_api_max_upload_mb", shared.OptionInfo(
        64, "Largest HTTP API request (MB)", gr.Number, {"precision": 0}, section=section))
    shared.opts.add_option("interinv_api_root", shared.OptionInfo(
        "", "Extra folder the HTTP API may read images from (besides the WebUI data folder)", section=section))


def app_started(_demo, app):
    from ..hosts import forge_host
    from . import api
    from .compat import webui_adapter

    api.register(app)
    if webui_adapter() is forge_host:
        forge_host.remember_api(app)  # its /sdapi database learns of our files too


def before_ui():
    from . import extra_networks

    extra_networks.register()


def _registered(script_callbacks, category: str, callback) -> bool:
    for entry in script_callbacks.callback_map.get(category, []):
        if getattr(entry, "callback", None) is callback:
            return True
    return False


def register(script_callbacks) -> None:
    """Register once per callback list: a UI reload clears the lists and runs the script again."""
    for category, add, callback in (("callbacks_ui_tabs", script_callbacks.on_ui_tabs, ui_tabs),
                                     ("callbacks_ui_settings", script_callbacks.on_ui_settings, ui_settings),
                                     ("callbacks_app_started", script_callbacks.on_app_started, app_started),
                                     ("callbacks_before_ui", script_callbacks.on_before_ui, before_ui)):
        if not _registered(script_callbacks, category, callback):
            add(callback, name=f"interinv_{category}")
