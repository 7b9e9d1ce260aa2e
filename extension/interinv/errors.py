"""The one error family of InterInv: every message is written for the user."""


class InterInvError(Exception):
    """A problem the user can fix; the message names the file or field and says how."""


class TrainingInterrupted(InterInvError):
    """Training stopped on request; the resumable state was saved to `state_path`."""

    def __init__(self, message: str, state_path: str, step: int):
        super().__init__(message)
        self.state_path = state_path
        self.step = step
