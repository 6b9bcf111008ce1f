"""`turnbench run`: Locust driven from outside, one headless run into one run directory, with its
config, process choice, SLO gates and verdict.

May import harness.client, .scenario, .recording, .bench (the client's measured CPU cost) and
deploy.toml_file; never Locust at import time.
"""
