"""Stand-in of lib_controlnet/global_state.py: the model names ("<stem> [<hash>]") found by
update_controlnet_filenames, which rebinds the module's lists (read them through get_all_controlnet_names)."""

controlnet_filename_dict = {"None": "model.safetensors"}
controlnet_names = ["None"]
installed = {}  # what lies in models/ControlNet: "<stem> [<hash>]" -> path; set by the stand-in's boot()


def update_controlnet_filenames():
    global controlnet_filename_dict, controlnet_names
    controlnet_filename_dict = {"None": "model.safetensors", **installed}
    controlnet_names = list(controlnet_filename_dict)


def get_all_controlnet_names():
    return controlnet_names


def get_controlnet_filename(controlnet_name):
    return controlnet_filename_dict[controlnet_name]
