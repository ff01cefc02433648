"""Alert routes (anpr.alert-routes.v1): webhook, MQTT, e-mail and Kafka targets notify delivers
watchlist alerts (list and priority filters) and anomalies of the chosen kinds to, enable/disable
and a test send. Secrets
(signing secret, passwords) go to the secret store; the record names them."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, Field

from platestream import topics as catalogue
from platestream.netguard import TargetRefused, check_host, check_url
from platestream.timeutil import now_ms
from services.api.deps import Admin, StateDep, audit
from services.api.state import AppState

router = APIRouter(prefix="/api/v1/alert-routes", tags=["alert routes"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
RouteId = Annotated[str, Path(pattern=ID_PATTERN)]
EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
KAFKA_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
DEFAULT_PORTS = {
    ("mqtt", "none"): 1883,
    ("mqtt", "tls"): 8883,
    ("email", "none"): 25,
    ("email", "starttls"): 587,
    ("email", "tls"): 465,
}

# what a route receives: watchlist alerts and the kinds of anpr.anomalies.v1 (docs/investigations.md)
Kind = Literal["watchlist", "clone", "misread", "overstay"]
DEFAULT_KINDS: tuple[Kind, ...] = ("watchlist",)


class RouteIn(BaseModel):
    name: str = Field(default="", max_length=128)
    channel: Literal["webhook", "mqtt", "email", "kafka"]
    target: str = Field(
        min_length=1, max_length=2048, description="URL, MQTT topic, e-mail address or Kafka topic."
    )
    lists: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        default_factory=list, max_length=200
    )
    min_priority: Literal["low", "medium", "high", "critical"] = "low"
    enabled: bool = True
    host: str | None = Field(
        default=None, max_length=253, description="MQTT broker or SMTP server."
    )
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = Field(default=None, max_length=256)
    password: str | None = Field(default=None, max_length=1024, description="Write-only.")
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=1024,
        description="Webhook signing secret; write-only.",
    )
    tls: Literal["none", "tls", "starttls"] = "none"
    sender: str | None = Field(default=None, max_length=320)
    kinds: list[Kind] = Field(
        default_factory=lambda: list(DEFAULT_KINDS),
        min_length=1,
        max_length=4,
        description="What the route receives: watchlist alerts and/or anomalies of these kinds.",
    )


class RouteCreate(RouteIn):
    route_id: str | None = Field(default=None, pattern=ID_PATTERN)


class EnabledIn(BaseModel):
    enabled: bool


class RouteOut(BaseModel):
    route_id: str
    name: str
    channel: str
    target: str
    lists: list[str]
    min_priority: str
    enabled: bool
    host: str | None
    port: int | None
    username: str | None
    tls: str
    sender: str | None
    kinds: list[str]
    has_secret: bool
    updated_at: int


class RouteSaved(RouteOut):
    secret: str | None = Field(
        default=None, description="The generated webhook signing secret; shown only now."
    )


class TestResult(BaseModel):
    status: str
    attempts: int
    error: str | None
    alert_id: str


def _bad(field: str, msg: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[{"loc": ["body", field], "msg": msg}]
    )


def validate(body: RouteIn, *, allow_private: bool, prefix: str) -> None:
    """422 naming the field for a target notify could not or must not use."""
    ch = body.channel
    if ch == "webhook":
        try:
            check_url(body.target, allow_private=allow_private)
        except TargetRefused as exc:
            raise _bad("target", f"webhook URL refused: {exc}") from exc
        return
    if body.tls == "starttls" and ch != "email":
        raise _bad("tls", "starttls applies to e-mail routes only")
    if ch == "kafka":
        if not KAFKA_TOPIC.match(body.target):
            raise _bad("target", "a Kafka topic name: letters, digits, '.', '_', '-'")
        if body.target.startswith(("anpr.", f"{prefix}anpr.")):
            raise _bad("target", "the pipeline's own topics cannot take alerts")
        return
    if not body.host:
        raise _bad("host", f"{ch} routes need a host")
    try:
        check_host(body.host, allow_private=allow_private)
    except TargetRefused as exc:
        raise _bad("host", f"host refused: {exc}") from exc
    if ch == "mqtt" and (set(body.target) & {"+", "#", "\x00"} or len(body.target) > 512):
        raise _bad("target", "an MQTT topic without wildcards (+, #)")
    if ch == "email":
        if not EMAIL.match(body.target):
            raise _bad("target", "an e-mail address")
        if body.sender and not EMAIL.match(body.sender):
            raise _bad("sender", "an e-mail address")


def _out(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: rec.get(k) for k in RouteOut.model_fields if k != "has_secret"}
    out["has_secret"] = bool(rec.get("secret_ref"))
    out["kinds"] = rec.get("kinds") or ["watchlist"]
    return out


def _existing(state: AppState, route_id: str) -> dict[str, Any]:
    rec = state.control.alert_routes.get(route_id)
    if rec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert route")
    return rec


def _publish(state: AppState, route_id: str, record: dict[str, Any] | None) -> None:
    part, off = state.publisher.publish(
        catalogue.ALERT_ROUTES.name, catalogue.ALERT_ROUTES.schema, route_id, record
    )
    if not state.control.alert_routes.wait_for(part, off):
        state.control.alert_routes.apply(route_id, record)


def _save(
    state: AppState, route_id: str, body: RouteIn, actor: str, old: dict[str, Any] | None
) -> tuple[dict[str, Any], str | None]:
    validate(
        body,
        allow_private=state.settings.api_allow_private_targets,
        prefix=state.settings.topic_prefix,
    )
    secret_name = f"alert-route-{route_id.replace(':', '_')}"
    value = body.secret if body.channel == "webhook" else body.password
    generated = None
    if body.channel == "webhook" and value is None and not (old and old.get("secret_ref")):
        value = generated = secrets.token_urlsafe(32)
    if value is not None:
        state.secrets.put(secret_name, value)  # before the record that names it
    keep = old.get("secret_ref") if old and old.get("channel") == body.channel else None
    record = {
        "route_id": route_id,
        **body.model_dump(exclude={"password", "secret", "route_id"}),
        "port": body.port or DEFAULT_PORTS.get((body.channel, body.tls)),
        "secret_ref": secret_name if value is not None else keep,
        "updated_at": now_ms(),
        "actor": actor,
    }
    if body.channel in ("webhook", "kafka"):
        record.update(host=None, port=None, username=None)
    _publish(state, route_id, record)
    return record, generated


@router.get("", response_model=list[RouteOut])
def list_routes(state: StateDep, _p: Admin) -> list[dict[str, Any]]:
    """List alert routes (secrets are never shown)."""
    return sorted(
        (_out(r) for r in state.control.alert_routes.values()), key=lambda r: r["route_id"]
    )


@router.post("", response_model=RouteSaved, status_code=status.HTTP_201_CREATED)
def create_route(body: RouteCreate, request: Request, state: StateDep, p: Admin) -> dict[str, Any]:
    """Create a route; a webhook without a signing secret gets one, shown once."""
    route_id = body.route_id or uuid.uuid4().hex[:12]
    if state.control.alert_routes.get(route_id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "a route with this id exists")
    record, generated = _save(state, route_id, body, p.subject, None)
    audit(
        state,
        request,
        p,
        "alert_route_change",
        query={"op": "create", "route_id": route_id},
        status_code=201,
    )
    return {**_out(record), "secret": generated}


@router.put("/{route_id}", response_model=RouteSaved)
def replace_route(
    route_id: RouteId, body: RouteIn, request: Request, state: StateDep, p: Admin
) -> dict[str, Any]:
    """Replace a route; secrets not sent are kept."""
    record, generated = _save(state, route_id, body, p.subject, _existing(state, route_id))
    audit(state, request, p, "alert_route_change", query={"op": "update", "route_id": route_id})
    return {**_out(record), "secret": generated}


@router.patch("/{route_id}", response_model=RouteOut)
def enable_route(
    route_id: RouteId, body: EnabledIn, request: Request, state: StateDep, p: Admin
) -> dict[str, Any]:
    """Enable or disable a route."""
    record = {
        **_existing(state, route_id),
        "enabled": body.enabled,
        "updated_at": now_ms(),
        "actor": p.subject,
    }
    _publish(state, route_id, record)
    audit(
        state,
        request,
        p,
        "alert_route_change",
        query={"op": "enable" if body.enabled else "disable", "route_id": route_id},
    )
    return _out(record)


@router.delete("/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_route(route_id: RouteId, request: Request, state: StateDep, p: Admin) -> None:
    """Delete a route (a tombstone) and its secret."""
    rec = _existing(state, route_id)
    _publish(state, route_id, None)
    if rec.get("secret_ref"):
        state.secrets.delete(str(rec["secret_ref"]))
    audit(
        state,
        request,
        p,
        "alert_route_change",
        query={"op": "delete", "route_id": route_id},
        status_code=204,
    )


@router.post("/{route_id}/test", response_model=TestResult)
async def send_test(
    route_id: RouteId, request: Request, state: StateDep, p: Admin
) -> dict[str, Any]:
    """Send a test alert through this route now (one attempt) and answer how it went."""
    from services.api.routesend import send_test_alert

    rec = _existing(state, route_id)
    result = await send_test_alert(state, rec, actor=p.name)
    await asyncio.to_thread(
        audit,
        state,
        request,
        p,
        "alert_route_test",
        query={"route_id": route_id, "status": result["status"]},
    )
    return result
