"""Reading JSON bodies from devices: a UTF-8 BOM is allowed, anything else malformed is a 4xx."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from platestream.errors import BadInputError

MAX_JSON_BYTES = 32 * 1024 * 1024


def load_json(body: bytes) -> Any:
    if len(body) > MAX_JSON_BYTES:
        raise BadInputError("JSON body too large")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"JSON body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise BadInputError("JSON nested too deeply") from exc
    if _SURROGATE_ESCAPE.search(text):
        check_unicode(data)
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_unicode(node: Any) -> None:
    """A \\uD800-style escape may leave a lone surrogate: text no UTF-8 encoder (Avro, ids) takes."""
    if isinstance(node, str):
        try:
            node.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadInputError("JSON text contains a lone surrogate (invalid Unicode)") from exc
    elif isinstance(node, dict):
        for k, v in node.items():
            check_unicode(k)
            check_unicode(v)
    elif isinstance(node, list):
        for v in node:
            check_unicode(v)


def load_object(body: bytes) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadInputError(f"expected a JSON object, got {type(data).__name__}")
    return data


def b64(value: Any, *, what: str) -> bytes:
    if not isinstance(value, str):
        raise BadInputError(f"{what} is not a base64 string")
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = text + "=" * (-len(text) % 4)  # some agents (OpenALPR) send unpadded base64
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"{what} is not valid base64") from exc


def obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInputError(f"{what} must be a JSON object")
    return value


def arr(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInputError(f"{what} must be a JSON array")
    return value
