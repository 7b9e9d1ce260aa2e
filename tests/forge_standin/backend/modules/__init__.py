"""Stand-in of backend/modules (see ../../README.md)."""
