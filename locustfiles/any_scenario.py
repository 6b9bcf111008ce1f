"""Whoever `--scenario` describes: a built-in name, a scenario TOML file or sharegpt:FILE.json.

This is the user `turnbench run` drives.

    locust -f locustfiles/any_scenario.py --host http://127.0.0.1:8000 --scenario my-scenario.toml
"""

from harness.plugin.chat_user import ChatUser


class ScenarioUser(ChatUser):
    scenario = "support"
