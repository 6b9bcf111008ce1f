"""The files a user passes to `locust -f`: each reads like a description of a person (who, what they
ask, how long they think) or of a load shape.

May import harness.plugin only; the mechanics live there.
"""
