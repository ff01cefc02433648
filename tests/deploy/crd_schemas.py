"""Minimal structural JSON Schemas for the operators' custom resources used in deploy/k8s.

No PyPI package ships the Strimzi, Altinity, MinIO, KEDA or Prometheus-operator CRD schemas
for offline use, so these are written by hand from the operators' documented CRDs, covering the
fields this project sets: required fields, types, allowed values, and no unknown top-level spec
keys where the CRD is closed. They catch typos and wrong types; they are not the full CRDs,
so `kubectl apply --dry-run=server` on a cluster with the operators remains the final check.
"""

from __future__ import annotations

from typing import Any

STR = {"type": "string", "minLength": 1}
INT = {"type": "integer"}
POS = {"type": "integer", "minimum": 1}
QTY = {"anyOf": [{"type": "string", "pattern": r"^[0-9.]+([KMGTPE]i?|m)?$"}, {"type": "integer"}]}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": QTY},
        "limits": {"type": "object", "additionalProperties": QTY},
    },
}
PVC_SPEC = {
    "type": "object",
    "required": ["accessModes", "resources"],
    "properties": {
        "accessModes": {
            "type": "array",
            "items": {
                "enum": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"]
            },
        },
        "resources": {
            "type": "object",
            "required": ["requests"],
            "properties": {"requests": {"type": "object", "required": ["storage"]}},
        },
        "storageClassName": STR,
    },
}


def _resource(
    api: str, kind: str, spec: dict[str, Any], *, labels_required: tuple[str, ...] = ()
) -> dict[str, Any]:
    meta: dict[str, Any] = {"type": "object", "required": ["name"], "properties": {"name": STR}}
    if labels_required:
        meta["required"] = ["name", "labels"]
        meta["properties"]["labels"] = {"type": "object", "required": list(labels_required)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-apiVersion": api,
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api},
            "kind": {"const": kind},
            "metadata": meta,
            "spec": spec,
        },
    }


STRIMZI_STORAGE = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["jbod", "persistent-claim", "ephemeral"]},
        "volumes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "type"],
                "additionalProperties": False,
                "properties": {
                    "id": INT,
                    "type": {"enum": ["persistent-claim", "ephemeral"]},
                    "size": STR,
                    "deleteClaim": {"type": "boolean"},
                    "kraftMetadata": {"enum": ["shared"]},
                    "class": STR,
                },
            },
        },
    },
}

KAFKA_SCALER_META = {
    "type": "object",
    "required": ["bootstrapServers", "consumerGroup", "lagThreshold"],
    "additionalProperties": {"type": "string"},
    "properties": {
        "bootstrapServers": STR,
        "consumerGroup": STR,
        "topic": STR,
        "lagThreshold": {"type": "string", "pattern": r"^[0-9]+$"},
        "offsetResetPolicy": {"enum": ["earliest", "latest"]},
        "allowIdleConsumers": {"enum": ["true", "false"]},
    },
}

CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "Kafka": _resource(
        "kafka.strimzi.io/v1beta2",
        "Kafka",
        {
            "type": "object",
            "required": ["kafka"],
            "additionalProperties": False,
            "properties": {
                "kafka": {
                    "type": "object",
                    "required": ["listeners"],
                    "additionalProperties": False,
                    "properties": {
                        "version": STR,
                        "metadataVersion": STR,
                        "config": {"type": "object"},
                        "listeners": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "port", "type", "tls"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                                    "port": {"type": "integer", "minimum": 9092},
                                    "type": {
                                        "enum": [
                                            "internal",
                                            "route",
                                            "loadbalancer",
                                            "nodeport",
                                            "ingress",
                                            "cluster-ip",
                                        ]
                                    },
                                    "tls": {"type": "boolean"},
                                    "authentication": {
                                        "type": "object",
                                        "required": ["type"],
                                        "properties": {
                                            "type": {
                                                "enum": ["tls", "scram-sha-512", "oauth", "custom"]
                                            }
                                        },
                                    },
                                    "networkPolicyPeers": {"type": "array"},
                                },
                            },
                        },
                    },
                },
                "entityOperator": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "topicOperator": {"type": "object"},
                        "userOperator": {"type": "object"},
                    },
                },
                "kafkaExporter": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"groupRegex": STR, "topicRegex": STR},
                },
            },
        },
    ),
    "KafkaNodePool": _resource(
        "kafka.strimzi.io/v1beta2",
        "KafkaNodePool",
        {
            "type": "object",
            "required": ["replicas", "roles", "storage"],
            "additionalProperties": False,
            "properties": {
                "replicas": POS,
                "roles": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"enum": ["controller", "broker"]},
                },
                "storage": STRIMZI_STORAGE,
                "resources": RESOURCES,
            },
        },
        labels_required=("strimzi.io/cluster",),
    ),
    "KafkaTopic": _resource(
        "kafka.strimzi.io/v1beta2",
        "KafkaTopic",
        {
            "type": "object",
            "required": ["partitions", "replicas"],
            "additionalProperties": False,
            "properties": {
                "topicName": STR,
                "partitions": POS,
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
                },
            },
        },
        labels_required=("strimzi.io/cluster",),
    ),
    "KafkaUser": _resource(
        "kafka.strimzi.io/v1beta2",
        "KafkaUser",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "authentication": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}},
                },
                "authorization": {"type": "object"},
            },
        },
        labels_required=("strimzi.io/cluster",),
    ),
    "ClickHouseInstallation": _resource(
        "clickhouse.altinity.com/v1",
        "ClickHouseInstallation",
        {
            "type": "object",
            "required": ["configuration"],
            "properties": {
                "configuration": {
                    "type": "object",
                    "required": ["clusters"],
                    "properties": {
                        "zookeeper": {
                            "type": "object",
                            "required": ["nodes"],
                            "properties": {
                                "nodes": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["host"],
                                        "properties": {"host": STR, "port": INT},
                                    },
                                }
                            },
                        },
                        "users": {
                            "type": "object",
                            "propertyNames": {"pattern": r"^[a-z0-9_]+/[a-z0-9_/]+$"},
                        },
                        "clusters": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "layout"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z0-9-]{1,15}$"},
                                    "layout": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {"shardsCount": POS, "replicasCount": POS},
                                    },
                                },
                            },
                        },
                    },
                },
                "defaults": {"type": "object"},
                "templates": {
                    "type": "object",
                    "properties": {
                        "podTemplates": {
                            "type": "array",
                            "items": {"type": "object", "required": ["name", "spec"]},
                        },
                        "volumeClaimTemplates": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "spec"],
                                "properties": {"spec": PVC_SPEC},
                            },
                        },
                    },
                },
            },
        },
    ),
    "ClickHouseKeeperInstallation": _resource(
        "clickhouse-keeper.altinity.com/v1",
        "ClickHouseKeeperInstallation",
        {
            "type": "object",
            "properties": {
                "configuration": {
                    "type": "object",
                    "properties": {
                        "clusters": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "layout"],
                                "properties": {
                                    "layout": {
                                        "type": "object",
                                        "properties": {"replicasCount": {"enum": [1, 3, 5]}},
                                    }
                                },
                            },
                        }
                    },
                },
                "defaults": {"type": "object"},
                "templates": {"type": "object"},
            },
        },
    ),
    "Tenant": _resource(
        "minio.min.io/v2",
        "Tenant",
        {
            "type": "object",
            "required": ["pools"],
            "properties": {
                "image": {"type": "string", "pattern": r"^[^:]+:(?!latest$).+"},
                "configuration": {"type": "object", "required": ["name"]},
                "users": {"type": "array", "items": {"type": "object", "required": ["name"]}},
                "buckets": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{2,62}$"}
                        },
                    },
                },
                "requestAutoCert": {"type": "boolean"},
                "pools": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["servers", "volumesPerServer", "volumeClaimTemplate"],
                        "properties": {
                            "name": STR,
                            "servers": POS,
                            "volumesPerServer": POS,
                            "volumeClaimTemplate": {
                                "type": "object",
                                "required": ["spec"],
                                "properties": {"spec": PVC_SPEC},
                            },
                            "resources": RESOURCES,
                            "securityContext": {"type": "object"},
                        },
                    },
                },
            },
        },
    ),
    "ScaledObject": _resource(
        "keda.sh/v1alpha1",
        "ScaledObject",
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": STR},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": POS,
                "pollingInterval": POS,
                "cooldownPeriod": POS,
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "kafka"},
                            "metadata": KAFKA_SCALER_META,
                            "authenticationRef": {"type": "object", "required": ["name"]},
                        },
                    },
                },
            },
        },
    ),
    "TriggerAuthentication": _resource(
        "keda.sh/v1alpha1",
        "TriggerAuthentication",
        {
            "type": "object",
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        "properties": {
                            "parameter": {
                                "enum": ["sasl", "username", "password", "tls", "ca", "cert", "key"]
                            },
                            "name": STR,
                            "key": STR,
                        },
                    },
                }
            },
        },
    ),
    "PodMonitor": _resource(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": {"type": "object"},
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {"port": STR, "path": STR, "interval": STR},
                    },
                },
            },
        },
    ),
    "PrometheusRule": _resource(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["alert", "expr", "labels", "annotations"],
                                    "properties": {
                                        "alert": {
                                            "type": "string",
                                            "pattern": "^[A-Z][A-Za-z0-9]+$",
                                        },
                                        "expr": STR,
                                        "for": {"type": "string", "pattern": r"^[0-9]+[smh]$"},
                                        "labels": {
                                            "type": "object",
                                            "required": ["severity"],
                                            "properties": {
                                                "severity": {
                                                    "enum": ["info", "warning", "critical"]
                                                }
                                            },
                                        },
                                        "annotations": {"type": "object", "required": ["summary"]},
                                    },
                                },
                            }
                        },
                    },
                }
            },
        },
    ),
}
