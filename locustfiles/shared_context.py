"""The seed experiment: one long technical document, then completely different questions about it.

Every user shares the whole ~7,000-token prefix; each asks successive, unrelated questions with
exactly the same output length on both engines, which isolates what each prefix cache saves.

    locust -f locustfiles/shared_context.py --host http://127.0.0.1:8000
"""

from harness.plugin.chat_user import ChatUser


class SharedContextUser(ChatUser):
    scenario = "shared-context"
