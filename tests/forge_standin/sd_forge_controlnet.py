"""Stand-in of extensions-builtin/sd_forge_controlnet/scripts/controlnet.py: the always-on "ControlNet" script
ControlNetForForgeOfficial, which reads its units from p.script_args[args_from:args_to], keeps the enabled ones and
looks each model up by its exact "<name> [<hash>]" (KeyError otherwise). It records what it received instead of
steering the UNet."""

from lib_controlnet import global_state
from lib_controlnet.external_code import ControlNetUnit
from modules import scripts


class ControlNetForForgeOfficial(scripts.Script):
    sorting_priority = 10

    def __init__(self):
        self.received = []

    def title(self):
        return "ControlNet"

    def get_enabled_units(self, units):
        assert all(isinstance(unit, ControlNetUnit) for unit in units)
        return [unit for unit in units if unit.enabled]

    def process(self, p, *units):
        enabled = self.get_enabled_units(units)
        for unit in enabled:
            global_state.get_controlnet_filename(unit.model)
        self.received.append({"units": enabled, "seed": p.seed, "steps": p.steps})
