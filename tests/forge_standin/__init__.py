"""Put the Forge stand-in's `modules`, `backend`, `modules_forge` and `lib_controlnet` on sys.path (see README.md)."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
