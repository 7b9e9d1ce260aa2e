"""InterInv's WebUI entry point: puts <extension root>/extension on sys.path and registers the callbacks."""

import sys
from pathlib import Path

_SOURCE = str(Path(__file__).resolve().parent.parent / "extension")
if _SOURCE not in sys.path:
    sys.path.insert(0, _SOURCE)

from modules import script_callbacks  # noqa: E402

from interinv.ui import entry  # noqa: E402

entry.register(script_callbacks)
