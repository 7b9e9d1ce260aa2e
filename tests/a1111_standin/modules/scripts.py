"""Stand-in of modules/scripts.py: Script, ScriptRunner with args_from/args_to, basedir()."""

import os

current_basedir = os.getcwd()


def basedir():
    return current_basedir


class Script:
    name = None
    args_from = None
    args_to = None
    alwayson = False

    def title(self):
        raise NotImplementedError

    def process(self, p, *args):
        pass


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

    def add_alwayson(self, script, defaults):
        script.alwayson = True
        script.args_from = len(self.inputs)
        self.inputs += [Component(v) for v in defaults]
        script.args_to = len(self.inputs)
        self.scripts.append(script)
        self.alwayson_scripts.append(script)


scripts_txt2img = ScriptRunner()
scripts_img2img = ScriptRunner()
