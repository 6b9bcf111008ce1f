"""The library under the locustfiles: one turn on the wire, who the users are, recording the run,
turnbench inside Locust, and the run and bench commands.

May import deploy/ (the lowest stage), never analysis/, locustfiles/ or the CLI.
"""
