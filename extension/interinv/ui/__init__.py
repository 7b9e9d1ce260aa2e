"""The WebUI shell: the Interaction Inversion tab, its jobs and the HTTP API."""
