"""The lowest stage: engines up (Runpod pods and serverless, the local emulator), targets.toml, the
tiny test model, and what every stage shares (TOML reading, prices).

Imports nothing of harness/, analysis/, locustfiles/ or the CLI.
"""
