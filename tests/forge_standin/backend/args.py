"""Stand-in of backend/args.py: `dynamic_args`, which forge_model_reload fills before the loader runs."""

dynamic_args = {"embedding_dir": None, "emphasis_name": "Original", "forge_unet_storage_dtype": None}
