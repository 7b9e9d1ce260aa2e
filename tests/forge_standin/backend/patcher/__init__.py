"""Stand-in of backend/patcher (see ../../README.md)."""
