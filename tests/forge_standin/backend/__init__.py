"""Stand-in of Forge's `backend` package (lllyasviel/stable-diffusion-webui-forge@dfdcbab6, see ../README.md)."""
