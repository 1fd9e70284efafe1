"""Entities: everything in this repository is keyed by the customer."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A support customer, identified by the CRM's customer id (e.g. C0000042).",
)
