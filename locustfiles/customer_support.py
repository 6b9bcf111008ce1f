"""A customer of an online shop, asking the support assistant about orders, returns and refunds.

Every customer shares the shop's policy and FAQ documents (the long, cached system context) and
brings their own account record; they ask a few questions, reading each answer before the next.

    locust -f locustfiles/customer_support.py --host http://127.0.0.1:8000
"""

from harness.plugin.chat_user import ChatUser


class CustomerSupportUser(ChatUser):
    scenario = "support"
