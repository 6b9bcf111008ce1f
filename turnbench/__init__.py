"""The `turnbench` command line over the stages, and `compare`, the main job that chains them.

May import every stage; nothing imports it.
"""

from harness.version import TURNBENCH_VERSION as __version__

__all__ = ["__version__"]
