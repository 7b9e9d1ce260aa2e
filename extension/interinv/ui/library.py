"""The interactions installed in the WebUI: <embeddings dir>/interactions/<slug>/, each checked against its manifest.

The Extra Networks page and GET /interinv/v1/interactions list the same ones. A folder whose manifest or files are
broken is skipped, and the reason is logged to the WebUI's console.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InterInvError
from ..hosts.a1111_host import embeddings_dir
from ..formats.manifest import MANIFEST_SUFFIX
from ..share.exported import INSTALL_FOLDER, SharedInteraction, open_export
from ..core.tokens import check_slug

log = logging.getLogger(__name__)


def installed_root() -> Path:
    """<embeddings dir>/interactions: one folder per installed interaction."""
    return embeddings_dir() / INSTALL_FOLDER


def interaction_folder(name: str) -> Path:
    """Where a finished interaction goes: <embeddings dir>/interactions/<slug>/."""
    return installed_root() / check_slug(name)


def installed() -> list[SharedInteraction]:
    """The installed interactions whose manifest and three files check out, by folder name."""
    root = installed_root()
    found = []
    for manifest in sorted(root.glob(f"*/*{MANIFEST_SUFFIX}")) if root.is_dir() else []:
        try:
            found.append(open_export(manifest))
        except (InterInvError, OSError) as exc:
            log.warning("InterInv skips the installed interaction in '%s': %s", manifest.parent, exc)
    return found
