"""The engine's only channel to the user: progress, logs, previews and interruption.

Shells subclass `Job`: a tqdm bar on the CLI, `shared.state` in the WebUI. The engine never prints.
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image


class Job:
    """A job that shows nothing and never stops early; subclasses override what they show."""

    def begin(self, stage: str, total_steps: int, first_step: int) -> None:
        """A stage starts (at `first_step` when resumed)."""

    def update(self, stage: str, step: int, losses: dict[str, float]) -> None:
        """`step` steps of `stage` are done; `losses` holds each loss term of the last step."""

    def preview(self, stage: str, step: int, images: Sequence[Image.Image], captions: Sequence[str]) -> None:
        """Preview images made at `step`."""

    def log(self, message: str) -> None:
        """A line worth showing to the user."""

    def stop_requested(self) -> bool:
        """True when the user asked to stop; the engine then saves a resumable state."""
        return False
