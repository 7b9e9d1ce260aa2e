"""The training engine: stages, the orchestrator of a run, resume state."""
