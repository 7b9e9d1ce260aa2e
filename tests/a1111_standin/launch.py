"""Stand-in of launch.py's extension-installer helpers: is_installed and run_pip, recorded."""

import importlib.metadata
import importlib.util

pip_calls = []


def is_installed(package):
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        try:
            return importlib.util.find_spec(package) is not None
        except ModuleNotFoundError:
            return False


def run_pip(command, desc=None, live=False):
    pip_calls.append(command)
