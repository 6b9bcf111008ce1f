"""Runpod: the API client, pods and serverless endpoints at flag parity, readiness, teardown that never
leaves a paid pod behind, credentials and lifetimes.

May import deploy's root modules (errors, parity, pricing, state, targets) and deploy.engines.
"""
