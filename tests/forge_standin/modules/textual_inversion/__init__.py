"""Stand-in of Forge's modules/textual_inversion package."""
