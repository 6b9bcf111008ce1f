"""The run directory written during a test: per-turn rows from every worker, run.json, server metrics,
the lag probe; run_dir.py is the contract analysis/ reads.

May import harness.client and deploy.engines.
"""
