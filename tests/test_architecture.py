"""The package's shape: import arrows point down only, no cycles, and the CLI's help stays light."""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[1] / "extension"
PACKAGE = EXTENSION / "interinv"
# Layers from the bottom; an import may point to its own layer or below. Modules not named here (errors, atomic,
# config, job, compat) are the foundation: every layer may use them and they use nothing above.
LAYERS = (("core",), ("formats",), ("hosts",), ("data", "export"), ("engine", "share", "eval"), ("cli", "ui", "testing"))
FOUNDATION = ("__init__", "errors", "atomic", "config", "job", "compat")
SHELL_ONLY = ("gradio", "modules", "interinv_world")  # what neither the core nor the engine may import


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(EXTENSION).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module, at module level) for every import in a file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((module, id(node) in top))
            found += [(f"{module}.{alias.name}", id(node) in top) for alias in node.names]  # `from . import x`
    return found


def _graph() -> dict[str, list[tuple[str, bool]]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: [(m, top) for m, top in _imports(path) if m in modules or not m.startswith("interinv.")]
            for name, path in modules.items()}


def _layer(module: str) -> int:
    head = module.split(".")[1] if "." in module else "__init__"
    if head in FOUNDATION:
        return -1
    return next(i for i, heads in enumerate(LAYERS) if head in heads)


def test_imports_point_down_the_layers_only():
    wrong = [f"{a} -> {b}" for a, edges in _graph().items() for b, _ in edges
             if b.startswith("interinv.") and _layer(b) > _layer(a)]
    assert wrong == []


def test_core_and_engine_never_import_the_shells_the_webui_or_the_world():
    wrong = [f"{a} -> {b}" for a, edges in _graph().items() for b, _ in edges
             if a.split(".")[1:2] in (["core"], ["engine"]) and b.split(".")[0] in SHELL_ONLY]
    assert wrong == []


def test_product_code_imports_the_world_and_the_test_models_only_lazily_from_the_cli():
    graph = _graph()
    wrong = [f"{a} -> {b}" for a, edges in graph.items() for b, top in edges
             if (b.split(".")[0] == "interinv_world" or b == "interinv.testing") and (a != "interinv.cli" or top)]
    assert wrong == []


def test_the_import_graph_has_no_cycle():
    graph = {a: {b for b, _ in edges if b in _graph_names()} for a, edges in _graph().items()}
    state: dict[str, int] = {}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := cycle_from(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    cycles = [c for node in sorted(graph) if node not in state and (c := cycle_from(node, []))]
    assert cycles == []


def _graph_names() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("*.py")}


FILE_NAMES = {"interaction.json": "formats/interaction_file.py", "stage1.json": "formats/interaction_file.py",
              ".interaction.json": "formats/manifest.py"}  # each on-disk file and the one module that names it


def test_each_of_interaction_json_stage1_json_and_the_manifest_is_named_by_its_one_module_only():
    """Other modules read and write these files through their module, so none of them spells the file's name."""
    wrong = []
    for path in sorted(EXTENSION.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix() if PACKAGE in path.parents else None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in FILE_NAMES and FILE_NAMES[node.value] != where:
                wrong.append(f"{path.relative_to(EXTENSION)}:{node.lineno}: {node.value!r}")
    assert wrong == []


# What ui/ may import of the WebUI: its UI hooks, nothing that drives the model, the embeddings or the job state.
UI_HOOKS = {"interinv.ui.entry": {"modules", "modules.shared"},  # the Settings page's options
            "interinv.ui.extra_networks": {"modules", "modules.ui_extra_networks"},
            "interinv.ui.tab": {"modules.call_queue", "modules.call_queue.wrap_gradio_gpu_call"}}


def test_ui_imports_only_the_webuis_ui_hooks():
    wrong = [f"{a} -> {b}" for a, edges in _graph().items() for b, _ in edges
             if a.startswith("interinv.ui") and b.split(".")[0] == "modules" and b not in UI_HOOKS.get(a, set())]
    assert wrong == []


# --- the CLI's help ---------------------------------------------------------------------------------------
def _subparsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, prefix + (name,))


def test_help_imports_neither_torch_nor_the_engine():
    from interinv.cli import parser

    commands = [list(path) for path, _ in _subparsers(parser())]
    script = ("import json, sys\nfrom interinv.cli import main\n"
              f"for command in {commands!r}:\n"
              "    try:\n        main(command + ['--help'])\n    except SystemExit:\n        pass\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', "
              "'transformers', 'gradio') or m.startswith('interinv.engine'))), file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(EXTENSION)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "usage: interinv world pretrain" in done.stdout
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_every_subcommand_has_a_description_and_every_option_its_default():
    from interinv.cli import parser

    missing = []
    for path, command in _subparsers(parser()):
        if path and not command.description:
            missing.append(f"{' '.join(path)}: no description")
        for action in command._actions:
            optional = action.option_strings and not action.required and action.dest != "help"
            if optional and "default" not in (action.help or ""):
                missing.append(f"{' '.join(path)} {action.option_strings[0]}: no default in its help")
    assert missing == []


def _functions(paths):
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def _protocol_members() -> set[str]:
    from interinv.hosts.base import Host

    return set(Host.__annotations__) | {name for name in vars(Host) if not name.startswith("_")}


def _host_users() -> list[Path]:
    """The product outside hosts/, and the world: code that is handed a host."""
    return [p for p in PACKAGE.rglob("*.py") if "hosts" not in p.relative_to(PACKAGE).parts] + sorted(
        (EXTENSION / "interinv_world").rglob("*.py"))


def test_every_host_parameter_is_typed_as_the_host_protocol():
    untyped = [f"{path.name}:{node.lineno} {node.name}" for path, node in _functions(_host_users())
               for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs
               if arg.arg == "host" and (arg.annotation is None or "Host" not in ast.unparse(arg.annotation))]
    assert untyped == []


def test_code_handed_a_host_uses_only_the_protocol():
    members = _protocol_members()
    beyond = [f"{path.name}:{node.lineno} host.{node.attr}" for path in _host_users()
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "host"
              and node.attr not in members]
    assert beyond == []


def test_every_host_implements_every_protocol_method_with_its_parameters():
    import inspect

    from interinv.hosts.a1111_host import A1111Host
    from interinv.hosts.base import Host
    from interinv.hosts.diffusers_host import DiffusersHost
    from interinv.hosts.forge_host import ForgeHost

    methods = [name for name, value in vars(Host).items() if not name.startswith("_") and inspect.isfunction(value)]
    wanted = {name: list(inspect.signature(getattr(Host, name)).parameters) for name in methods}
    found = {cls.__name__: {name: list(inspect.signature(getattr(cls, name)).parameters) for name in methods}
             for cls in (DiffusersHost, A1111Host, ForgeHost)}
    assert methods and found == {"DiffusersHost": wanted, "A1111Host": wanted, "ForgeHost": wanted}
