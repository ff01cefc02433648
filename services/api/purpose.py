"""A stated reason for every look at plate data: the `purpose` (and optional `case_id`) of a request.

Searches, exports, event and image views, timelines, replays and subject-access exports declare
`RequiredPurpose` as a dependency. The purpose comes from the `purpose` / `case_id` query
parameters or, for clients that state it once per session (the console), from the `X-Purpose` /
`X-Case-Id` headers; it must be one of `api_purposes`. Roles named in `api_purpose_roles` get a
422 naming the field without one; an empty list turns the requirement off for a deployment (a
purpose that is given is still checked and recorded). The dependency leaves the purpose on
`request.state`, where `deps.audit` picks it up, so every audit record of the request carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status

from services.api.deps import CurrentPrincipal, StateDep

PURPOSE_HEADER = "x-purpose"
CASE_HEADER = "x-case-id"
# Case references of the forces and councils we know: letters, digits and a few separators.
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$")


@dataclass(frozen=True)
class Purpose:
    """Why the caller is looking: one of the deployment's purposes, and a case if there is one."""

    purpose: str
    case_id: str | None = None


def _refuse(field: str, msg: str) -> HTTPException:
    # Shaped like FastAPI's own validation errors, so clients show "query.purpose: ...".
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[{"loc": ["query", field], "msg": msg}]
    )


def check_purpose(
    purpose: str | None, case_id: str | None, *, allowed: list[str], required: bool
) -> Purpose | None:
    """The validated purpose, None when none was stated and none is required; else 422."""
    purpose = (purpose or "").strip() or None
    case_id = (case_id or "").strip() or None
    if case_id is not None and not _CASE_ID.match(case_id):
        raise _refuse("case_id", "a case reference is 1-64 letters, digits or . _ : / # -")
    if purpose is None:
        if required:
            raise _refuse(
                "purpose",
                "state why you are searching: purpose is required (one of "
                + ", ".join(allowed)
                + "), with case_id when there is a case",
            )
        if case_id is not None:
            raise _refuse("purpose", "a case_id needs a purpose")
        return None
    if purpose not in allowed:
        raise _refuse("purpose", "purpose must be one of " + ", ".join(allowed))
    return Purpose(purpose, case_id)


async def stated_purpose(
    request: Request,
    state: StateDep,
    principal: CurrentPrincipal,
    purpose: Annotated[
        str | None,
        Query(max_length=64, description="Why you are looking (one of the deployment's purposes)."),
    ] = None,
    case_id: Annotated[
        str | None, Query(max_length=64, description="Case or incident reference, if any.")
    ] = None,
) -> Purpose | None:
    """Dependency: the request's purpose (query parameters, else headers), recorded for the audit."""
    settings = state.settings
    found = check_purpose(
        purpose if purpose is not None else request.headers.get(PURPOSE_HEADER),
        case_id if case_id is not None else request.headers.get(CASE_HEADER),
        allowed=settings.api_purposes,
        required=principal.role in settings.api_purpose_roles,
    )
    request.state.purpose = found
    return found


RequiredPurpose = Annotated[Purpose | None, Depends(stated_purpose)]


def audit_fields(request: Any) -> dict[str, str | None]:
    """`purpose` and `case_id` for the audit record of this request (None when none was stated)."""
    found: Purpose | None = getattr(getattr(request, "state", None), "purpose", None)
    if found is None:
        return {"purpose": None, "case_id": None}
    return {"purpose": found.purpose, "case_id": found.case_id}
