"""Stand-in of A1111's `modules` package (see ../README.md)."""
