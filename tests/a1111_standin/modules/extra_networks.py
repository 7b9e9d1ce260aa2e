"""Stand-in of modules/extra_networks.py: only get_user_metadata, the `<stem>.json` sidecar of a card's file."""

import json
import os


def get_user_metadata(filename, lister=None):
    """The JSON object in `<filename without extension>.json` (what the card editor writes), else {}."""
    if filename is None:
        return {}
    path = os.path.splitext(filename)[0] + ".json"
    try:
        if os.path.exists(path):
            with open(path, encoding="utf8") as file:
                return json.load(file)
    except Exception as exc:  # the real one reports and carries on
        print(f"Error reading extra network user metadata from {path}: {exc}")
    return {}
