"""Sharing trained interactions: bundles, the Hub, installs, model cards."""
