"""Stand-in of backend/nn (see ../../README.md)."""
