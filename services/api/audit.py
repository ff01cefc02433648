"""Audit trail: every search, export, image view and change becomes an AuditRecord on anpr.audit.v1."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from platestream import topics as catalogue
from platestream.timeutil import now_ms
from services.api.auth import Principal
from services.api.publish import Publisher

logger = logging.getLogger(__name__)


class Auditor:
    """Writes audit records: by default without blocking the request (delivery errors are
    logged); with ``wait_s`` the broker's acknowledgement is awaited that long, else PublishError
    (answered 503), for actions whose data must not leave unaudited (exports)."""

    def __init__(self, publisher: Publisher, *, metrics: Any = None) -> None:
        self._publisher = publisher
        self._metrics = metrics
        self.count = 0

    def record(
        self,
        principal: Principal,
        action: str,
        resource: str,
        *,
        query: dict[str, Any] | None = None,
        result_count: int | None = None,
        status: int = 200,
        client_ip: str | None = None,
        request_id: str | None = None,
        wait_s: float | None = None,
        purpose: str | None = None,
        case_id: str | None = None,
    ) -> dict[str, Any]:
        # The purpose also goes into the query JSON: the ClickHouse audit_log projects that
        # column today, so "who searched for this plate, and why" is one query there.
        query = dict(query or {})
        if purpose is not None:
            query.update(purpose=purpose, case_id=case_id)
        rec = {
            "audit_id": str(uuid.uuid4()),
            "ts": now_ms(),
            "actor": principal.subject,
            "role": principal.role,
            "action": action,
            "resource": resource,
            "query": json.dumps(query, sort_keys=True, default=str, ensure_ascii=False),
            "result_count": result_count,
            "status": status,
            "client_ip": client_ip,
            "request_id": request_id,
            "purpose": purpose,
            "case_id": case_id,
        }
        if wait_s is None:
            self._publisher.publish_nowait(
                catalogue.AUDIT.name, catalogue.AUDIT.schema, principal.subject, rec
            )
        else:
            self._publisher.publish(
                catalogue.AUDIT.name, catalogue.AUDIT.schema, principal.subject, rec, timeout=wait_s
            )
        self.count += 1
        if self._metrics is not None:
            self._metrics.audit_records.labels(action).inc()
        return rec
