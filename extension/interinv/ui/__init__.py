"""The WebUI shell: the Interaction Inversion tab, its jobs, the HTTP API and the file publishing."""
