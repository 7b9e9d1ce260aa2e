"""Sharing trained interactions: the exported folder, bundles, the Hub, installs, model cards."""
