"""User accounts and machine API keys (admin only); every change is an event."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from platestream.limits import CAMERA_ID_PATTERN
from services.api.deps import Admin, StateDep, audit

router = APIRouter(prefix="/api/v1", tags=["users"])


class UserOut(BaseModel):
    username: str
    role: str
    disabled: bool
    updated_at: int


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: str
    password: str = Field(min_length=8, max_length=256)


class UserUpdate(BaseModel):
    role: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    disabled: bool | None = None


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: str
    camera_ids: list[Annotated[str, Field(pattern=CAMERA_ID_PATTERN)]] = Field(
        default_factory=list, max_length=1000
    )


class KeyOut(BaseModel):
    key_id: str
    name: str
    owner: str
    role: str
    camera_ids: list[str]
    revoked: bool
    created_at: int


class KeyCreated(KeyOut):
    api_key: str = Field(description="The secret key; shown only once.")


def _user_out(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "username": u["username"],
        "role": u["role"],
        "disabled": bool(u.get("disabled")),
        "updated_at": u["ts"],
    }


@router.get("/users", response_model=list[UserOut])
def list_users(state: StateDep, _p: Admin) -> list[dict[str, Any]]:
    """List user accounts (never their password hashes)."""
    return sorted(
        (_user_out(u) for u in state.accounts.users.values()), key=lambda u: u["username"]
    )


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, request: Request, state: StateDep, p: Admin) -> dict[str, Any]:
    """Create a user."""
    record = state.accounts.create_user(body.username, body.role, body.password, actor=p.subject)
    audit(
        state,
        request,
        p,
        "user_change",
        query={"op": "create", "username": body.username, "role": body.role},
        status_code=201,
    )
    return _user_out(record)


@router.patch("/users/{username}", response_model=UserOut)
def update_user(
    username: str, body: UserUpdate, request: Request, state: StateDep, p: Admin
) -> dict[str, Any]:
    """Change a user's role, password or disabled flag."""
    try:
        record = state.accounts.update_user(
            username,
            actor=p.subject,
            role=body.role,
            password=body.password,
            disabled=body.disabled,
        )
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user") from None
    audit(
        state,
        request,
        p,
        "user_change",
        query={
            "op": "update",
            "username": username,
            "role": body.role,
            "password_changed": body.password is not None,
            "disabled": body.disabled,
        },
    )
    return _user_out(record)


@router.delete("/users/{username}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(username: str, request: Request, state: StateDep, p: Admin) -> None:
    """Delete a user (a tombstone on the users topic)."""
    if username == p.name and p.kind == "user":
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot delete yourself")
    try:
        state.accounts.delete_user(username)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user") from None
    audit(
        state,
        request,
        p,
        "user_change",
        query={"op": "delete", "username": username},
        status_code=204,
    )


def _key_out(k: dict[str, Any]) -> dict[str, Any]:
    return {
        f: k.get(f)
        for f in ("key_id", "name", "owner", "role", "camera_ids", "revoked", "created_at")
    }


@router.get("/api-keys", response_model=list[KeyOut])
def list_keys(state: StateDep, _p: Admin) -> list[dict[str, Any]]:
    """List API keys (ids and labels; secrets are never stored or shown)."""
    return sorted(
        (_key_out(k) for k in state.accounts.keys.values()), key=lambda k: k["created_at"]
    )


@router.post("/api-keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, request: Request, state: StateDep, p: Admin) -> dict[str, Any]:
    """Create a machine API key; the response carries the key once."""
    key, record = state.accounts.create_key(
        body.name, body.role, owner=p.owner or p.name, camera_ids=body.camera_ids
    )
    audit(
        state,
        request,
        p,
        "api_key_change",
        query={"op": "create", "key_id": record["key_id"], "role": body.role},
        status_code=201,
    )
    return {**_key_out(record), "api_key": key}


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, request: Request, state: StateDep, p: Admin) -> None:
    """Revoke (delete) an API key."""
    try:
        state.accounts.revoke_key(key_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such API key") from None
    audit(
        state,
        request,
        p,
        "api_key_change",
        query={"op": "revoke", "key_id": key_id},
        status_code=204,
    )
