"""Real Apache Kafka, ClickHouse and MinIO in Docker (testcontainers), for running the suite
against the real servers where a Docker engine is available (`PLATESTREAM_TEST_BACKEND=containers`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from platestream.settings import CommonSettings

logger = logging.getLogger(__name__)

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.8"
MINIO_IMAGE = "minio/minio:RELEASE.2025-04-22T22-12-26Z"


def docker_available(timeout: float = 3.0) -> bool:
    """True when a Docker engine answers a ping."""
    try:
        import docker  # a testcontainers dependency
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:  # docker raises many kinds (DockerException, connection errors)
        return False


@contextlib.contextmanager
def containers_stack(base: CommonSettings) -> Iterator[CommonSettings]:
    """Start Kafka (KRaft), ClickHouse and MinIO; yield settings that point at them; stop them."""
    from testcontainers.community.clickhouse import ClickHouseContainer
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.minio import MinioContainer

    user, password = base.clickhouse_user, base.clickhouse_password
    access, secret = base.s3_access_key, base.s3_secret_key
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer(KAFKA_IMAGE).with_kraft())
        clickhouse = ClickHouseContainer(CLICKHOUSE_IMAGE, username=user, password=password)
        clickhouse.with_exposed_ports(8123)
        clickhouse = stack.enter_context(clickhouse)
        minio = stack.enter_context(
            MinioContainer(MINIO_IMAGE, access_key=access, secret_key=secret)
        )
        ch_host = clickhouse.get_container_host_ip()
        minio_cfg = minio.get_config()
        settings = base.model_copy(
            update={
                "kafka_bootstrap": kafka.get_bootstrap_server(),
                "clickhouse_url": f"http://{ch_host}:{clickhouse.get_exposed_port(8123)}",
                "s3_endpoint": f"http://{minio_cfg['endpoint']}",
            }
        )
        logger.info(
            "containers: kafka %s, clickhouse %s, s3 %s",
            settings.kafka_bootstrap,
            settings.clickhouse_url,
            settings.s3_endpoint,
        )
        yield settings
