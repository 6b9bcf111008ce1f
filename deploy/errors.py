"""The one exception type of the deploy stage.

Every user-facing failure in deploy/ ends as a `DeployError` whose message is one line telling the
user what to do; the command line prints it without a traceback.
"""

from __future__ import annotations


class DeployError(Exception):
    """A deployment that cannot go on; the message says what to do next, in one line."""
