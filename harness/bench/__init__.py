"""`turnbench bench`: the load generator measured against ground truth (the ground-truth server and the
streamers it compares), and the CPU per token it saves.

May import harness.client and deploy.emulator (to run a server in its own process).
"""
