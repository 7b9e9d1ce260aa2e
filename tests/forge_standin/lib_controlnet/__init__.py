"""Stand-in of extensions-builtin/sd_forge_controlnet/lib_controlnet (on sys.path once Forge loaded the extension)."""
