"""Reading the files a run wrote (requests.csv, run.json, Locust's CSVs, runs/index.csv) with explicit
types and one-line errors.

May import analysis.errors and harness.recording.run_dir.
"""
