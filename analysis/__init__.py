"""The analysis stage: run directories in, per-turn and per-conversation figures, comparisons, costs,
the report and the trend out.

May import harness.recording.run_dir (the file contract), harness.client.measurement and
deploy.pricing; never Locust, gevent or the CLI.
"""
