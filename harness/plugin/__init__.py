"""turnbench inside Locust: listeners on Locust's events, the ChatUser every locustfile builds on, the
typed options, the per-turn entries and the Turns tab.

May import harness.client, .scenario, .recording and .run (the --processes auto record); nothing
here is imported below it.
"""
