"""The one error family of InterInv: every message is written for the user."""


class InterInvError(Exception):
    """A problem the user can fix; the message names the file or field and says how."""


class TrainingInterrupted(InterInvError):
    """Training stopped on request; the resumable state was saved to `state_path`."""

    def __init__(self, message: str, state_path: str, step: int):
        super().__init__(message)
        self.state_path = state_path
        self.step = step


class FieldError(InterInvError):
    """A request field that is missing or malformed (HTTP 422 from the API); `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
