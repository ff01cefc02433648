"""Process plumbing shared by the stages: logging set-up, the stop event, a job's repeat loop."""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable
from types import FrameType


def setup_logging(
    level: str = "INFO", json_logs: bool | None = None, stage: str | None = None
) -> None:
    """Configure logging for a command (platestream/logs.py). ``json_logs=None`` follows
    PLATESTREAM_LOG_JSON, so every stage honours it whether or not it passes its settings."""
    from platestream.logs import configure

    if json_logs is None:
        from platestream.errors import ConfigError
        from platestream.settings import CommonSettings, load

        try:
            json_logs = load(CommonSettings).log_json
        except ConfigError:  # reported by the command's own load of its settings
            json_logs = False
    configure(level, json_logs=json_logs, stage=stage)


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop``; a second Ctrl+C falls back to the default handler."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def repeat(once: Callable[[], None], every_s: float) -> None:
    """Run ``once``; with ``every_s``, again every that many seconds until SIGTERM/SIGINT (the
    scheduled jobs' ``--every-s``: `platestream investigate`, `platestream db compact`)."""
    stop = threading.Event()
    if every_s:
        install_stop_handlers(stop)
    while True:
        once()
        if not every_s or stop.wait(every_s):
            return


def freeze_long_lived() -> int:
    """Collect garbage, then hide every object alive now from the cyclic garbage collector.

    For a stage that loads a large state at start (enrich: 100,000 watchlist entries and their
    indexes, about 600,000 objects) and then runs a hot loop: without this, every full
    collection the loop's allocations trigger walks that whole state again (0.1-0.2 s each,
    about a third of enrich's time in its benchmark). Frozen objects are still freed by reference
    counting when they are dropped; only a reference cycle among them would stay until exit.
    Full collections then also run less often (``relax_full_collections``), for the state the
    loop itself keeps. Returns the number of frozen objects.
    """
    gc.collect()
    gc.freeze()
    relax_full_collections()
    return gc.get_freeze_count()


# gc.set_threshold for a stage's hot loop: a young collection every 700 allocations (the default)
# and one of the middle generation every 10 of those (the default), but a full collection only
# every 100 middle ones instead of 10. Enrich keeps each passage alive for seconds (a dozen
# containers per read) and each hold for a minute, so its reads outlive the young generations and
# every full collection walked all of them again: 20 µs a read at 2,000 reads/s, a fifth of the
# stage (docs/benchmarks.md, "Garbage collection"). Cyclic garbage still goes within about 700,000
# allocations; everything else is freed by reference counting as before.
HOT_LOOP_GC_THRESHOLDS = (700, 10, 100)


def relax_full_collections(thresholds: tuple[int, int, int] = HOT_LOOP_GC_THRESHOLDS) -> None:
    """Run full cyclic collections less often (see HOT_LOOP_GC_THRESHOLDS)."""
    gc.set_threshold(*thresholds)
