"""A real ingest push server for API tests: uvicorn on the API's topics and bucket."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from platestream.settings import CommonSettings

from .helpers import ApiEnv, wait_until


@contextlib.contextmanager
def running_ingest(api_env: ApiEnv, *, uploads: bool = False, **extra: Any) -> Iterator[str]:
    """Ingest on the port the API forwards uploads to (``api_ingest_url``); its base URL."""
    import uvicorn

    from services.ingest.app import create_app
    from services.ingest.processor import ingest_context
    from services.ingest.settings import IngestSettings

    common = {k: getattr(api_env.settings, k) for k in CommonSettings.model_fields}
    settings = IngestSettings(**{"ingest_api_keys": False, "ingest_devices": {}, **common, **extra})
    url = api_env.settings.api_ingest_url
    port = urlsplit(url).port
    with ingest_context(settings, uploads=uploads) as ctx:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(ctx), host="127.0.0.1", port=port, log_config=None, access_log=False
            )
        )
        thread = threading.Thread(target=server.run, name="ingest-under-test", daemon=True)
        thread.start()
        try:
            wait_until(lambda: server.started, 60, "ingest to start")
            # the device follower has read anpr.devices.v1 once, so what the test creates next is
            # measured from a running ingest, not from one still starting
            store = getattr(ctx.auth, "_device_store", None)
            wait_until(lambda: store is None or store.ready.is_set(), 30, "the device follower")
            yield url
        finally:
            server.should_exit = True
            thread.join(20)
