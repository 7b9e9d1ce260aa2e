"""The interaction manifest (<slug>.interaction.json): what an export holds, read and checked in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.tokens import ROLES
from ..errors import InterInvError

MANIFEST_FORMAT = "interinv.interaction/1"


def load_manifest(path: str | Path) -> dict[str, Any]:
    """The interaction manifest of an output folder (or the .interaction.json itself), checked."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.interaction.json"))
        if len(found) != 1:
            raise InterInvError(
                f"'{path}' holds {len(found)} *.interaction.json manifests; expected exactly one. Point to the file."
            )
        path = found[0]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InterInvError(f"Manifest '{path}' could not be read: {exc}.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = (f"format {manifest.get('format')!r}" if isinstance(manifest, dict) else
                 {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(manifest), "a number"))
        raise InterInvError(
            f"'{path}' is not an InterInv manifest: expected a JSON object with format '{MANIFEST_FORMAT}', "
            f"found {found}. Point to the .interaction.json that `interinv export` wrote."
        )
    for key, kind in (("slug", str), ("template", str), ("tokens", dict)):
        if not isinstance(manifest.get(key), kind):
            raise InterInvError(
                f"Manifest '{path}': field '{key}' is missing or not a {kind.__name__}; re-export the interaction."
            )
    for role in ROLES:
        entry = manifest["tokens"].get(role)
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "file")):
            raise InterInvError(
                f"Manifest '{path}': tokens.{role} must be an object with 'name' and 'file'; re-export the interaction."
            )
    manifest["_folder"] = str(path.parent)
    return manifest
