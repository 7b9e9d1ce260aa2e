"""Stand-in of backend/text_processing (see ../../README.md)."""
