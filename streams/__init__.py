"""The platform's message bus: a protocol, an in-process implementation (Kafka comes later)."""
