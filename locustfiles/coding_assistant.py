"""A developer asking a coding assistant about code: shared project sources, their own file open.

Every developer shares the project's source files in the context; each brings a different file
of their own and works through several questions, thinking longer between them than a shopper.

    locust -f locustfiles/coding_assistant.py --host http://127.0.0.1:8000
"""

from harness.plugin.chat_user import ChatUser


class CodingAssistantUser(ChatUser):
    scenario = "coding"
