"""Stand-in of modules/script_callbacks.py: registration and the runners the WebUI calls."""

import collections

ScriptCallback = collections.namedtuple("ScriptCallback", ["script", "callback", "name"])

callback_map = {"callbacks_ui_tabs": [], "callbacks_ui_settings": [], "callbacks_app_started": [], "callbacks_before_ui": []}


def clear_callbacks():
    for callbacks in callback_map.values():
        callbacks.clear()


def _add(category, callback, name):
    callback_map[category].append(ScriptCallback("scripts/interinv.py", callback, name))


def on_ui_tabs(callback, *, name=None):
    """callback() returns [(gr.Blocks, "Title", "elem_id")]."""
    _add("callbacks_ui_tabs", callback, name)


def on_ui_settings(callback, *, name=None):
    _add("callbacks_ui_settings", callback, name)


def on_app_started(callback, *, name=None):
    """callback(demo: gr.Blocks | None, app: FastAPI)."""
    _add("callbacks_app_started", callback, name)


def on_before_ui(callback, *, name=None):
    """callback() runs before the UI is built: where extensions register Extra Networks pages."""
    _add("callbacks_before_ui", callback, name)


def ui_tabs_callback():
    res = []
    for _script, callback, _name in callback_map["callbacks_ui_tabs"]:
        res += callback() or []
    return res


def ui_settings_callback():
    for _script, callback, _name in callback_map["callbacks_ui_settings"]:
        callback()


def app_started_callback(demo, app):
    for _script, callback, _name in callback_map["callbacks_app_started"]:
        callback(demo, app)


def before_ui_callback():
    for _script, callback, _name in reversed(callback_map["callbacks_before_ui"]):
        callback()
