"""FastAPI dependencies: the shared state, the authenticated caller and permission checks.

The dependencies are ``async``: each is a few in-memory lookups (a JWT check, a dict of users, a
token bucket), which the event loop runs at once, where a plain ``def`` costs a hop to the thread
pool and back per dependency per request. Anything that waits on a store stays in a plain ``def``
endpoint, which FastAPI runs in the thread pool, so the loop never blocks on a query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from platestream.proxies import forwarded_client as forwarded_client  # moved there; re-exported
from platestream.proxies import request_client
from services.api.auth import AuthError, Perm, Principal
from services.api.state import AppState

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ps
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticate(state: AppState, token: str | None, api_key: str | None) -> Principal:
    """A principal from a bearer token or an API key; raises 401."""
    try:
        if api_key:
            return state.accounts.principal_from_key(api_key)
        if token:
            return state.accounts.principal_from_token(token)
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    raise _unauthorized("not authenticated: send a bearer token or an X-API-Key header")


def rate_limit(state: AppState, principal: Principal) -> None:
    wait = state.limiter.take(principal.subject)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="rate limit exceeded",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )


async def current_principal(
    request: Request,
    state: StateDep,
    token: Annotated[str | None, Depends(oauth2_scheme)] = None,
    api_key: Annotated[str | None, Depends(api_key_scheme)] = None,
) -> Principal:
    # EventSource and <img> cannot send headers: an access token may come as ?access_token=.
    token = token or request.query_params.get("access_token")
    principal = authenticate(state, token, api_key)
    rate_limit(state, principal)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(perm: Perm) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the caller, if their role grants ``perm``; else 403."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(perm):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"role {principal.role!r} may not {perm.value}"
            )
        return principal

    return check


def ws_principal(websocket: WebSocket, state: AppState) -> Principal:
    """The caller of a WebSocket: ?access_token= or ?api_key= (browsers cannot set WS headers)."""
    token = websocket.query_params.get("access_token")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:]
    key = websocket.headers.get("x-api-key") or websocket.query_params.get("api_key")
    principal = authenticate(state, token, key)
    rate_limit(state, principal)
    return principal


def client_ip(request: HTTPConnection) -> str | None:
    """The caller's address: the peer, or, when the peer is a trusted proxy, the right-most
    Forwarded / X-Forwarded-For entry that is not itself a trusted proxy (platestream/proxies.py)."""
    state: AppState | None = getattr(request.app.state, "ps", None)
    return request_client(request, state.trusted_proxies if state is not None else ())


def request_id(request: Request) -> str | None:
    rid: str | None = getattr(request.state, "request_id", None)
    return rid


def audit(
    state: AppState,
    request: Request,
    principal: Principal,
    action: str,
    *,
    query: dict[str, object] | None = None,
    result_count: int | None = None,
    status_code: int = 200,
    resource: str | None = None,
    delivered: bool = False,
) -> None:
    """One audit record for this request; ``delivered``: wait (bounded) for the broker's
    acknowledgement, raising PublishError (503) if it does not come. The purpose the request
    stated (`services.api.purpose`) goes with it."""
    stated = getattr(request.state, "purpose", None)
    state.auditor.record(
        principal,
        action,
        resource or request.url.path,
        query=query,
        result_count=result_count,
        status=status_code,
        client_ip=client_ip(request),
        request_id=request_id(request),
        wait_s=state.settings.api_audit_timeout_s if delivered else None,
        purpose=getattr(stated, "purpose", None),
        case_id=getattr(stated, "case_id", None),
    )


Search = Annotated[Principal, Depends(require(Perm.SEARCH))]
Export = Annotated[Principal, Depends(require(Perm.EXPORT))]
Live = Annotated[Principal, Depends(require(Perm.LIVE))]
Replay = Annotated[Principal, Depends(require(Perm.REPLAY))]
WatchlistRead = Annotated[Principal, Depends(require(Perm.WATCHLIST_READ))]
WatchlistWrite = Annotated[Principal, Depends(require(Perm.WATCHLIST_WRITE))]
Correct = Annotated[Principal, Depends(require(Perm.CORRECT))]
CameraRead = Annotated[Principal, Depends(require(Perm.CAMERA_READ))]
CameraWrite = Annotated[Principal, Depends(require(Perm.CAMERA_WRITE))]
Admin = Annotated[Principal, Depends(require(Perm.USERS))]
