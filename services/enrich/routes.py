"""Alert routes managed through the API (anpr.alert-routes.v1), followed live by notify.

A background thread reads the compacted topic from the beginning and keeps following it
(``StateFollower``, no consumer group); each record becomes a ``Route`` with its secret read from
the secret store the API wrote it to. ``current()`` is what the notifier routes an alert by:
the bootstrap routes of ``PLATESTREAM_NOTIFY_ROUTES`` plus every enabled topic route; a route's
``kinds`` say whether it takes watchlist alerts, anomalies of some kinds, or both.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic import ValidationError

from platestream import topics as catalogue
from platestream.errors import PlatestreamError
from platestream.secrets import SecretStore
from platestream.serde import AvroSerde
from services.enrich.settings import NotifySettings, Route
from services.enrich.state import StateFollower

logger = logging.getLogger(__name__)

MAX_ROUTES = 10_000
KINDS = ("watchlist", "clone", "misread", "overstay")
START_TIMEOUT_S = 30.0


def route_from_record(record: dict[str, Any], secrets: SecretStore | None) -> Route:
    """A topic record as a Route; raises ValueError for a record notify cannot use."""
    secret = None
    if record.get("secret_ref") and secrets is not None:
        secret = secrets.get(str(record["secret_ref"]))
        if secret is None:
            logger.warning(
                "alert route %s: secret %s not in the secret store (is it mounted here?)",
                record.get("route_id"),
                record["secret_ref"],
            )
    kinds = record.get("kinds")
    if kinds is None:  # a record decoded without the field: the schema's default
        kinds = ["watchlist"]
    known = [k for k in kinds if k in KINDS]
    if len(known) < len(kinds):  # a newer API's kind: keep the route for the kinds known here
        logger.warning(
            "alert route %s: kinds %s not delivered by this notifier",
            record.get("route_id"),
            sorted(set(kinds) - set(KINDS))[:8],
        )
    try:
        return Route(
            kinds=known,
            channel=record["channel"],
            target=record["target"],
            lists=list(record.get("lists") or []),
            min_priority=record.get("min_priority") or "low",
            route_id=record["route_id"],
            host=record.get("host"),
            port=record.get("port"),
            username=record.get("username"),
            password=secret if record["channel"] in ("mqtt", "email") else None,
            secret=secret if record["channel"] == "webhook" else None,
            tls=record.get("tls") or "none",
            sender=record.get("sender"),
        )
    except ValidationError as exc:
        raise ValueError(f"unusable route {record.get('route_id')!r}: {exc}") from exc


class RouteTable:
    """Bootstrap routes plus the enabled routes of the topic, kept current by a thread."""

    def __init__(self, settings: NotifySettings, *, serde: AvroSerde) -> None:
        self._settings = settings
        self._serde = serde
        self._bootstrap = list(settings.notify_routes)
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        directory = settings.notify_secrets_dir or (settings.var_dir / "secrets")
        self._secrets = SecretStore(directory)

    def apply(self, route_id: str, record: dict[str, Any] | None) -> None:
        route = None
        if record is not None and record.get("enabled", True):
            try:
                route = route_from_record(record, self._secrets)
            except ValueError:
                with self._lock:  # an unusable new version must not leave the old one active
                    self._routes.pop(route_id, None)
                raise
        with self._lock:
            if route is None:
                self._routes.pop(route_id, None)
            elif route_id in self._routes or len(self._routes) < MAX_ROUTES:
                self._routes[route_id] = route
        logger.info("alert route %s %s", route_id, "active" if route else "removed or disabled")

    def current(self) -> list[Route]:
        with self._lock:
            return self._bootstrap + list(self._routes.values())

    def start(self) -> RouteTable:
        self._thread = threading.Thread(target=self._run, name="notify-routes", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        from confluent_kafka import Consumer, KafkaException

        topic = self._settings.topic(catalogue.ALERT_ROUTES.name)
        while not self._stop.is_set():
            conf = StateFollower.consumer_config(self._settings.kafka_common())
            follower = StateFollower(
                consumer=Consumer(conf), serde=self._serde, tables={topic: self.apply}
            )
            try:
                follower.start(START_TIMEOUT_S)
                self.ready.set()
                while not self._stop.is_set():
                    if not follower.poll():
                        self._stop.wait(0.2)
                return
            except (KafkaException, PlatestreamError) as exc:  # keep following through outages
                logger.warning("alert routes of %s: %s; retrying in 2 s", topic, exc)
                self._stop.wait(2.0)
            finally:
                follower.close()
