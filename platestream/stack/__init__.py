"""The local stack: the project's own launcher for a Kafka-API broker, an S3 store and ClickHouse."""

from platestream.stack.launcher import COMPONENTS, ComponentStatus, LocalStack
from platestream.stack.ports import Ports, pick_free_ports

__all__ = ["COMPONENTS", "ComponentStatus", "LocalStack", "Ports", "pick_free_ports"]
