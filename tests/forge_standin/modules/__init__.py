"""Stand-in of Forge's `modules` package (see ../README.md).

Forge kept most of A1111's `modules` unchanged (shared, shared_state, call_queue, progress, scripts, script_callbacks,
ui_extra_networks, errors, safe, devices): those come from the A1111 stand-in, whose folder is searched after this
one. The files here are the ones Forge changed.
"""

from pathlib import Path

__path__.append(str(Path(__file__).resolve().parents[2] / "a1111_standin" / "modules"))
