"""Hosts: the models the engine trains on, each behind the `Host` protocol."""
