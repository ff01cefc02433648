"""platestream: event-sourced licence-plate recognition on Kafka."""

__version__ = "0.1.0"
