"""A streaming chat server that logs when it really sent each token, and running it in its own process:
a fixture of the bench and the tests, not a deployment.

May import deploy.emulator.process only.
"""
