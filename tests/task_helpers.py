"""Helpers of the WebUI task tests: the user presses the WebUI's Interrupt while a task trains."""

import contextlib


@contextlib.contextmanager
def interrupted_at(monkeypatch, stage: str | None = "stage2"):
    """While inside, the WebUI's Interrupt is pressed at the first step a task reports in `stage` (None: any)."""
    from interinv.ui import jobs
    from modules import shared

    original = jobs.WebUIJob.update

    def update_then_interrupt(self, reported, step, losses):
        original(self, reported, step, losses)
        if stage is None or reported == stage:
            shared.state.interrupt()

    monkeypatch.setattr(jobs.WebUIJob, "update", update_then_interrupt)
    try:
        yield
    finally:
        monkeypatch.setattr(jobs.WebUIJob, "update", original)
