"""Stand-in of Forge's `modules_forge` package: only its presence matters (how InterInv recognises Forge)."""
