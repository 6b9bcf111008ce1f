"""turnbench's version, for run.json and `turnbench --version`: one lookup, from the installed package."""

from importlib.metadata import PackageNotFoundError, version

try:
    TURNBENCH_VERSION = version("turnbench")
except PackageNotFoundError:  # running from a checkout that was never installed
    TURNBENCH_VERSION = "0.0.0+checkout"
