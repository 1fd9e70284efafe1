"""Entities: customers, and the conversations the chatbot holds with them."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A support customer, identified by the CRM's customer id (e.g. C0000042).",
)

conversation = Entity(
    name="conversation",
    join_keys=["conversation_id"],
    value_type=ValueType.STRING,
    description="One chat conversation, identified by the bot backend's conversation id.",
)
