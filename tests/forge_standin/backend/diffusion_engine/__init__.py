"""Stand-in of backend/diffusion_engine (see ../../README.md)."""
