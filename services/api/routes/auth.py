"""Login (OAuth2 password flow), token refresh and who-am-I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from services.api.auth import AuthError, Principal
from services.api.deps import CurrentPrincipal, StateDep, client_ip, request_id

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class RefreshRequest(BaseModel):
    refresh_token: str


class Me(BaseModel):
    name: str
    role: str
    kind: str
    permissions: list[str]


@router.post("/token", response_model=TokenResponse)
def token(
    request: Request, state: StateDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    """Exchange a username and password for an access token and a refresh token."""
    ip = client_ip(request) or "unknown"
    account = f"login-user:{form.username[:64]}"
    # Per address, and per account from any address: a botnet guessing one password spreads its
    # addresses, but not the account it guesses. Checked before the password, so a 429 says
    # nothing about whether the guess was right.
    wait = max(state.login_limiter.take(f"login:{ip}"), state.account_failures.blocked(account))
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many login attempts",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    who = Principal(name=form.username[:64], role="", kind="user")
    try:
        user = state.accounts.login(form.username, form.password)
    except AuthError as exc:
        state.account_failures.fail(account)
        state.auditor.record(
            who,
            "login",
            "/api/v1/auth/token",
            status=401,
            client_ip=ip,
            request_id=request_id(request),
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    state.auditor.record(
        Principal(name=user["username"], role=user["role"], kind="user"),
        "login",
        "/api/v1/auth/token",
        client_ip=ip,
        request_id=request_id(request),
    )
    return state.accounts.tokens_for(user)


@router.post("/refresh", response_model=TokenResponse)
def refresh(body: RefreshRequest, state: StateDep) -> dict[str, Any]:
    """Exchange a refresh token for a new pair of tokens."""
    try:
        return state.accounts.refresh(body.refresh_token)
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    """The caller's name, role and permissions."""
    from services.api.auth import ROLE_PERMS, Role

    perms = sorted(p.value for p in ROLE_PERMS.get(Role(principal.role), frozenset()))
    return {
        "name": principal.name,
        "role": principal.role,
        "kind": principal.kind,
        "permissions": perms,
    }
