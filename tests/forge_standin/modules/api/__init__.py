"""Stand-in of Forge's modules/api package."""
