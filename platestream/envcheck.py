"""Misspelled PLATESTREAM_* variables: names no setting reads, reported at start with a close match.

pydantic-settings ignores variables it does not know (``extra="ignore"``: every stage reads the
same environment), so ``PLATESTREAM_KAFKA_BOOTSTRAPS=broker:9092`` would silently leave the
default in place. The known names are the fields of CommonSettings and of every stage's settings
class, plus the few variables read by commands rather than settings.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
from collections.abc import Mapping
from functools import lru_cache

from platestream.settings import ENV_PREFIX, CommonSettings

logger = logging.getLogger(__name__)

STAGE_SETTINGS = (
    "services.ingest.settings",
    "services.detect.settings",
    "services.enrich.settings",
    "services.sink.settings",
    "services.api.settings",
)
# Read by commands, not by a settings class (typer envvar defaults, test and chaos knobs).
COMMAND_VARIABLES = frozenset({"PLATESTREAM_NEW_PASSWORD", "PLATESTREAM_DAHUA_PASSWORD"})
FREE_PREFIXES = ("PLATESTREAM_TEST_", "PLATESTREAM_CHAOS_")


@lru_cache(maxsize=1)
def known_names() -> frozenset[str]:
    """Every PLATESTREAM_* name a setting or command reads."""
    for module in STAGE_SETTINGS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:  # a stage left out of this install
            continue
    names = set(COMMAND_VARIABLES)
    stack: list[type[CommonSettings]] = [CommonSettings]
    while stack:
        cls = stack.pop()
        names.update(f"{ENV_PREFIX}{field.upper()}" for field in cls.model_fields)
        stack.extend(cls.__subclasses__())
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """(name, closest known name or None) for each PLATESTREAM_* variable no setting reads."""
    env = os.environ if environ is None else environ
    known = known_names()
    out = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(FREE_PREFIXES):
            continue
        # compare without the shared prefix, which would make every name look close
        tails = {k.removeprefix(ENV_PREFIX): k for k in known}
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), tails, n=1, cutoff=0.75)
        out.append((name, tails[close[0]] if close else None))
    return out


def warn_unknown_variables(environ: Mapping[str, str] | None = None) -> int:
    """Log one warning per unknown PLATESTREAM_* variable; returns how many."""
    found = unknown_variables(environ)
    for name, close in found:
        hint = f"; did you mean {close}?" if close else ""
        logger.warning("%s is not a platestream setting and is ignored%s", name, hint)
    return len(found)
