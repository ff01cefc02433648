"""Live feed of plate events and alerts: WebSocket and server-sent events.

The feed shows plates, so a caller states a purpose (issue 17) like every other view of plate
data: SSE through the `RequiredPurpose` dependency, the WebSocket through the same `purpose` /
`case_id` query parameters (browsers cannot set headers on a WebSocket; the `X-Purpose` /
`X-Case-Id` headers are read too, for other clients). A WebSocket without one, for a role that
must state one, is closed with 4422 naming the field. The `live_open` audit record of each
connection, and its `live_close`, carry the purpose and case.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import StreamingResponse

from services.api.auth import Perm, Principal
from services.api.deps import Live, StateDep, client_ip, request_id, ws_principal
from services.api.live import LiveClient, LiveFull
from services.api.purpose import (
    CASE_HEADER,
    PURPOSE_HEADER,
    Purpose,
    RequiredPurpose,
    check_purpose,
)
from services.api.state import AppState

router = APIRouter(prefix="/api/v1/live", tags=["live"])
KEEPALIVE_S = 15.0
REVOKED = "the user or key was disabled, deleted or changed"


def _kinds(kinds: str | None) -> set[str]:
    wanted = {k.strip() for k in (kinds or "event,alert").split(",") if k.strip()}
    if not wanted <= {"event", "alert"}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "kinds: event and/or alert")
    return wanted


def _subscribe(
    state: AppState,
    owner: str,
    camera: list[str] | None,
    watchlist: str | None,
    kinds: str | None,
) -> LiveClient:
    try:
        return state.live.subscribe(
            owner=owner, cameras=set(camera or []), watchlist=watchlist, kinds=_kinds(kinds)
        )
    except LiveFull as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from exc


def _audit(
    state: AppState,
    principal: Principal,
    action: str,
    resource: str,
    client: LiveClient,
    why: Purpose | None,
    *,
    status_code: int = 200,
    ip: str | None = None,
    rid: str | None = None,
) -> None:
    query = {
        "client": client.id,
        "cameras": sorted(client.cameras or ()),
        "watchlist": client.watchlist,
        "kinds": sorted(client.kinds),
    }
    state.auditor.record(
        principal,
        action,
        resource,
        query=query,
        status=status_code,
        client_ip=ip,
        request_id=rid,
        purpose=why.purpose if why else None,
        case_id=why.case_id if why else None,
    )


def ws_purpose(websocket: WebSocket, state: AppState, principal: Principal) -> Purpose | None:
    """The WebSocket's stated purpose (query parameters, else headers); 422 as for HTTP routes."""
    qp, headers = websocket.query_params, websocket.headers
    purpose, case_id = qp.get("purpose"), qp.get("case_id")
    return check_purpose(
        purpose if purpose is not None else headers.get(PURPOSE_HEADER),
        case_id if case_id is not None else headers.get(CASE_HEADER),
        allowed=state.settings.api_purposes,
        required=principal.role in state.settings.api_purpose_roles,
    )


def _wait_s(state: AppState) -> float:
    """How long one wait for a message lasts: each wake-up (a message or a timeout) re-checks
    the caller, so a disabled user's feed closes within the re-check interval."""
    return min(KEEPALIVE_S, state.settings.api_live_recheck_s)


@router.websocket("")
async def live_ws(websocket: WebSocket) -> None:
    """WebSocket: ?access_token=...&purpose=...&case_id=...&camera=...&watchlist=<list id or *>&kinds=event,alert."""
    state: AppState = websocket.app.state.ps
    # Accept first and close with an application code (4401/4403/4422/4429): browsers cannot read
    # the HTTP status of a refused handshake, but they see a close code.
    await websocket.accept()
    try:
        principal = ws_principal(websocket, state)
    except HTTPException as exc:
        await websocket.close(
            code=4401 if exc.status_code == 401 else 4429, reason=str(exc.detail)[:120]
        )
        return
    if not principal.can(Perm.LIVE):
        await websocket.close(code=4403, reason="role may not watch the live feed")
        return
    try:
        why = ws_purpose(websocket, state, principal)
    except HTTPException as exc:
        detail: Any = exc.detail  # check_purpose's 422: [{"loc": [...], "msg": ...}]
        first = detail[0]
        reason = f"{first['loc'][-1]}: {first['msg']}"
        await websocket.close(code=4422, reason=reason.encode()[:120].decode(errors="ignore"))
        return
    qp = websocket.query_params
    try:
        client = _subscribe(
            state, principal.subject, qp.getlist("camera"), qp.get("watchlist"), qp.get("kinds")
        )
    except HTTPException as exc:
        code = 4429 if exc.status_code == status.HTTP_429_TOO_MANY_REQUESTS else 4422
        await websocket.close(code=code, reason=str(exc.detail)[:120])
        return
    ip = client_ip(websocket)
    _audit(state, principal, "live_open", "/api/v1/live", client, why, ip=ip)
    await websocket.send_json({"type": "hello", "client": client.id, "queue": client.queue.maxlen})
    quiet_since = time.monotonic()
    try:
        while True:
            msg = await client.get(_wait_s(state))
            if not state.accounts.still_valid(principal):
                _audit(
                    state,
                    principal,
                    "live_close",
                    "/api/v1/live",
                    client,
                    why,
                    status_code=401,
                    ip=ip,
                )
                await websocket.close(code=4401, reason=REVOKED)
                return
            if msg is None:
                if time.monotonic() - quiet_since >= KEEPALIVE_S:
                    await websocket.send_json({"type": "keepalive", "dropped": client.dropped})
                    quiet_since = time.monotonic()
                continue
            await websocket.send_json({**msg, "dropped": client.dropped})
            quiet_since = time.monotonic()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        state.live.unsubscribe(client)


@router.get(
    "/sse",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_sse(
    request: Request,
    state: StateDep,
    principal: Live,
    why: RequiredPurpose,
    camera: Annotated[list[str] | None, Query(max_length=200)] = None,
    watchlist: Annotated[
        str | None, Query(max_length=64, description="A list id, or * for any hit.")
    ] = None,
    kinds: Annotated[str | None, Query(max_length=20)] = None,
    max_messages: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="Close after this many.")
    ] = None,
) -> StreamingResponse:
    """Server-sent events of plate events and alerts as they arrive."""
    client = _subscribe(state, principal.subject, camera, watchlist, kinds)
    ip, rid = client_ip(request), request_id(request)
    _audit(state, principal, "live_open", "/api/v1/live/sse", client, why, ip=ip, rid=rid)

    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        quiet_since = time.monotonic()
        try:
            yield f"event: hello\ndata: {json.dumps({'client': client.id})}\n\n".encode()
            while not await request.is_disconnected():
                msg: dict[str, Any] | None = await client.get(_wait_s(state))
                if not state.accounts.still_valid(principal):
                    _audit(
                        state,
                        principal,
                        "live_close",
                        "/api/v1/live/sse",
                        client,
                        why,
                        status_code=401,
                        ip=ip,
                        rid=rid,
                    )
                    yield f"event: closed\ndata: {json.dumps({'reason': REVOKED})}\n\n".encode()
                    return
                if msg is None:
                    if time.monotonic() - quiet_since >= KEEPALIVE_S:
                        yield b": keepalive\n\n"
                        quiet_since = time.monotonic()
                    continue
                quiet_since = time.monotonic()
                yield f"event: {msg['type']}\ndata: {json.dumps({**msg, 'dropped': client.dropped})}\n\n".encode()
                sent += 1
                if max_messages is not None and sent >= max_messages:
                    return
        finally:
            state.live.unsubscribe(client)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
