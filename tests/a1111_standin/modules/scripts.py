"""Stand-in of modules/scripts.py: Script, ScriptRunner with args_from/args_to, basedir().

Each runner starts with txt2img's built-in seed/steps/sampler script, which (like the real ones in
modules/processing_scripts/) is `setup_for_ui_only` and copies its UI values into `p` in setup().
"""

import os

current_basedir = os.getcwd()


def basedir():
    return current_basedir


class Script:
    name = None
    args_from = None
    args_to = None
    alwayson = False
    setup_for_ui_only = False

    def title(self):
        raise NotImplementedError

    def setup(self, p, *args):
        pass

    def process(self, p, *args):
        pass


class ScriptBuiltinUI(Script):
    """What the UI's seed, steps and sampler controls do in setup(): overwrite `p` with their values."""

    setup_for_ui_only = True
    defaults = [-1, 20, "DPM++ 2M"]  # the UI's seed, sampling steps and sampler

    def title(self):
        return "Seed, steps, sampler"

    def setup(self, p, seed, steps, sampler_name):
        p.seed, p.steps, p.sampler_name = seed, steps, sampler_name


class Component:
    """What runner.inputs holds: gradio components, of which only `.value` matters here."""

    def __init__(self, value):
        self.value = value


class ScriptRunner:
    def __init__(self):
        self.scripts = []
        self.alwayson_scripts = []
        self.selectable_scripts = []
        self.inputs = [None]
        builtin = ScriptBuiltinUI()
        self.add_alwayson(builtin, builtin.defaults)

    def setup_scrips(self, p, *, is_ui=True):
        """Real: the UI-only scripts are skipped for API calls (`is_ui=False`)."""
        for script in self.alwayson_scripts:
            if not is_ui and script.setup_for_ui_only:
                continue
            script.setup(p, *p.script_args[script.args_from:script.args_to])

    def process(self, p):
        """Real: a script that raises is reported to the console and generation goes on without it."""
        from modules import errors

        for script in self.alwayson_scripts:
            try:
                script.process(p, *p.script_args[script.args_from:script.args_to])
            except Exception:
                errors.report(f"Error running process: {script.title()}", exc_info=True)

    def add_alwayson(self, script, defaults):
        script.alwayson = True
        script.args_from = len(self.inputs)
        self.inputs += [Component(v) for v in defaults]
        script.args_to = len(self.inputs)
        self.scripts.append(script)
        self.alwayson_scripts.append(script)


scripts_txt2img = ScriptRunner()
scripts_img2img = ScriptRunner()
