"""`platestream users create|reset-password|delete|list`: accounts as events, for bootstrap and recovery.

These commands publish to ``anpr.users.v1`` directly (no running API needed), so the first admin
can be created on an empty deployment and a lost admin password reset.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="User accounts (events on anpr.users.v1).", no_args_is_help=True)

RoleOpt = Annotated[
    str, typer.Option("--role", "-r", help="admin | operator | analyst | viewer | device")
]


def _accounts():  # type: ignore[no-untyped-def]
    """Accounts wired to the broker, with the users projection caught up."""
    from platestream import topics as catalogue
    from platestream.kafka import make_producer
    from platestream.serde import AvroSerde
    from platestream.settings import load
    from services.api.auth import TokenIssuer
    from services.api.identity import Accounts
    from services.api.projection import TopicProjection
    from services.api.publish import Publisher
    from services.api.settings import ApiSettings

    settings = load(ApiSettings)
    serde = AvroSerde(settings=settings)
    publisher = Publisher(producer=make_producer(settings), serde=serde, settings=settings)
    users = TopicProjection(
        settings=settings, topic=settings.topic(catalogue.USERS.name), serde=serde, idle_ready_s=1.0
    )
    keys = TopicProjection(
        settings=settings,
        topic=settings.topic(catalogue.API_KEYS.name),
        serde=serde,
        idle_ready_s=1.0,
    )
    users.start()
    if not users.ready.wait(20):
        users.stop()
        raise typer.BadParameter("could not read the users topic within 20 s: is the broker up?")
    issuer = TokenIssuer(settings.jwt_secret, access_ttl_s=60, refresh_ttl_s=60)
    return Accounts(users=users, keys=keys, publisher=publisher, issuer=issuer)


def _password(password: str | None) -> str:
    if password:
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("create")
def create(
    username: str,
    role: RoleOpt = "viewer",
    password: Annotated[
        str | None, typer.Option(help="Prompted when omitted.", envvar="PLATESTREAM_NEW_PASSWORD")
    ] = None,
) -> None:
    """Create a user."""
    from services.api.identity import AccountError

    acc = _accounts()
    try:
        acc.create_user(username, role, _password(password), actor="cli")
    except AccountError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        acc.users.stop()
    typer.echo(f"created {username} ({role})")


@app.command("reset-password")
def reset_password(
    username: str,
    password: Annotated[
        str | None, typer.Option(help="Prompted when omitted.", envvar="PLATESTREAM_NEW_PASSWORD")
    ] = None,
    role: Annotated[str | None, typer.Option("--role", "-r", help="Also change the role.")] = None,
    enable: Annotated[bool, typer.Option(help="Also re-enable a disabled account.")] = True,
) -> None:
    """Set a new password (tokens issued before it stop working)."""
    from services.api.identity import AccountError

    acc = _accounts()
    try:
        acc.update_user(
            username,
            actor="cli",
            password=_password(password),
            role=role,
            disabled=False if enable else None,
        )
    except KeyError:
        raise typer.BadParameter(f"no user {username!r}") from None
    except AccountError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        acc.users.stop()
    typer.echo(f"password of {username} reset")


@app.command("delete")
def delete(
    username: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Delete a user (a tombstone on the users topic)."""
    if not yes:
        typer.confirm(f"delete user {username}?", abort=True)
    acc = _accounts()
    try:
        acc.delete_user(username)
    except KeyError:
        raise typer.BadParameter(f"no user {username!r}") from None
    finally:
        acc.users.stop()
    typer.echo(f"deleted {username}")


@app.command("list")
def list_users() -> None:
    """Print every user and role."""
    acc = _accounts()
    try:
        for u in sorted(acc.users.values(), key=lambda u: u["username"]):
            flag = " (disabled)" if u.get("disabled") else ""
            typer.echo(f"{u['username']:32} {u['role']}{flag}")
    finally:
        acc.users.stop()
