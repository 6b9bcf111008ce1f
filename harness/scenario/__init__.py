"""Who the users are and what they ask: scenario files, distributions, conversation plans, shared and
per-user contexts, the tokenizer, the conversation.

May import harness.client; not Locust, so plans can be drawn and checked before any load starts.
"""
