"""The lowest stage: engines up (Runpod pods and serverless, the local emulator), targets.toml, the
tiny test model, and what every stage shares (TOML reading, prices, what turnbench knows of each
engine in deploy.engines).

Imports nothing of harness/, analysis/, locustfiles/ or the CLI.
"""
