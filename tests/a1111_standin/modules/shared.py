"""Stand-in of modules/shared.py (+ options.py, shared_cmd_options.py): sd_model, opts, cmd_opts, state."""

import argparse

from modules import shared_state


class OptionInfo:
    """Real: modules/options.py OptionInfo."""

    def __init__(self, default=None, label="", component=None, component_args=None, onchange=None, section=None,
                 refresh=None, comment_before="", comment_after="", infotext=None, restrict_api=False, category_id=None):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.refresh = refresh
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api
        self.category_id = category_id

    def info(self, info):
        self.comment_after += f"<span class='info'>({info})</span>"
        return self

    def needs_reload_ui(self):
        return self


class Options:
    """Real: modules/options.py Options; attribute reads fall back to the registered default."""

    def __init__(self, data_labels):
        super().__setattr__("data_labels", dict(data_labels))
        super().__setattr__("data", {k: v.default for k, v in data_labels.items()})

    def __getattr__(self, item):
        if item in self.data:
            return self.data[item]
        if item in self.data_labels:
            return self.data_labels[item].default
        raise AttributeError(item)

    def __setattr__(self, key, value):
        self.data[key] = value

    def add_option(self, key, info):
        self.data_labels[key] = info
        if key not in self.data:
            self.data[key] = info.default


def _default_options():
    return Options({
        "emphasis": OptionInfo("Original"),
        "comma_padding_backtrack": OptionInfo(20),
        "CLIP_stop_at_last_layers": OptionInfo(1),
        "cross_attention_optimization": OptionInfo("Automatic"),
        "live_previews_enable": OptionInfo(True),
        "textual_inversion_print_at_load": OptionInfo(False),
        "control_net_unit_count": OptionInfo(3),
        "samples_format": OptionInfo("png"),
        "multiple_tqdm": OptionInfo(True),
        "sdxl_crop_top": OptionInfo(0),
        "sdxl_crop_left": OptionInfo(0),
        "sdxl_refiner_low_aesthetic_score": OptionInfo(2.5),
        "sdxl_refiner_high_aesthetic_score": OptionInfo(6.0),
        "sdxl_clip_l_skip": OptionInfo(False),
    })


def _default_cmd_opts(data_dir="."):
    return argparse.Namespace(
        data_dir=data_dir, embeddings_dir=f"{data_dir}/embeddings", lowvram=False, medvram=False, no_half=True,
        api=False, api_auth=None, nowebui=False, disable_extension_access=False,
        interinv_cache_dir=None, interinv_annotator_dir=None, disable_console_progressbars=False,
    )


sd_model = None
opts = _default_options()
cmd_opts = _default_cmd_opts()
state = shared_state.State()
total_tqdm = None  # the real one is made at startup; boot() makes it here
data_path = "."
