"""The engine emulator: a real OpenAI-compatible server in vLLM's or SGLang's dialect, with prefix
caches, continuous batching, metrics, faults and a ground-truth log.

May import deploy's root modules and deploy.engines; nothing of deploy.runpod.
"""
