"""The analysis stage's one exception type.

Everything a user can get wrong (a missing file, a bad column, a malformed option) ends in an
`AnalysisError` whose message is one line naming the file and the column, and saying what to do.
The CLI prints it as "turnbench report: <message>" and exits 2, so it must never need a traceback.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """A problem with the input the user can fix: bad run directory, bad option, unwritable output."""
