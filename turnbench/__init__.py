"""turnbench: multi-turn LLM load testing with Locust."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("turnbench")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+checkout"
