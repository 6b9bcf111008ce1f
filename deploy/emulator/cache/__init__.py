"""The emulator's prefix caches: SGLang's token radix tree and vLLM's hash-chained blocks, behind one
interface the scheduler uses.

Imports nothing else of the emulator.
"""
