"""The fault-suite driver (see the package docstring): a private stack, the stages, load, faults, checks."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from platestream.bench import harness
from platestream.chaos import diagnose
from platestream.chaos.checks import (
    ALERTED_SQL,
    IN_PASSAGE_SQL,
    found_ids,
    stored_ids,
    wait_found,
    wait_stored,
)
from platestream.chaos.faults import Fault, FaultResult, longest_ack_gap_s, redeliveries
from platestream.chaos.load import IngestLoad, WebhookReceiver
from platestream.chaos.prepare import stage_env, wait_ready, write_watchlist
from platestream.chaos.report import ChaosOptions, ChaosReport
from platestream.settings import CommonSettings
from platestream.stack.ports import free_port
from platestream.timeutil import iso_utc, now_ms

logger = logging.getLogger(__name__)


class ChaosRun:
    """One run of the suite on a given stack; ``run()`` returns the report."""

    def __init__(
        self,
        *,
        settings: CommonSettings,
        stack: Any,
        options: ChaosOptions,
        echo: Callable[[str], None] = lambda s: logger.info("%s", s),
    ) -> None:
        self.base = settings
        self.stack = stack
        self.opts = options
        self.echo = echo
        self.run_id = harness.new_run_id("chaos")
        self.settings = harness.isolated(settings, self.run_id)
        self.canary_ids: set[str] = set()
        self.canary_alerts: set[str] = set()

    def _client(self) -> Any:
        from platestream.clickhouse import make_clickhouse

        return make_clickhouse(self.settings)

    def run(self) -> ChaosReport:
        opts = self.opts
        report = ChaosReport(
            self.run_id,
            {
                "faults": [f.name for f in opts.faults],
                "rate": opts.rate,
                "hit_every": opts.hit_every,
                "stages": list(opts.stages),
            },
        )
        harness.prepare_namespace(self.settings)
        webhook = WebhookReceiver(opts.webhook_fail_every).start()
        devices = [(f"chaos-dev-{k}", f"chaos-cam-{k}") for k in range(4)]
        max_events = int(
            opts.rate * (opts.warmup_s + len(opts.faults) * (opts.recovery_timeout_s + 60) + 60)
        )
        write_watchlist(self.settings, self.run_id, opts.hit_every, max_events)
        ingest_port = free_port()
        env = stage_env(ingest_port, devices, webhook.url)
        stages = harness.Stages(
            self.settings, list(opts.stages), opts.log_dir / self.run_id, extra_env=env
        )
        load = IngestLoad(
            url=f"http://127.0.0.1:{ingest_port}/push/generic",
            devices=devices,
            run_id=self.run_id,
            rate=opts.rate,
            hit_every=opts.hit_every,
            # Cameras push independently: with 8 senders a push answered in 0.4 s already capped
            # the load at 20/s, so on a loaded machine the queue outgrew the drain deadline and
            # pushes never sent counted as "never acknowledged" (make chaos, 2026-12-02).
            workers=max(8, int(opts.rate * 2)),
        )
        try:
            with stages:
                self.canary_ids, self.canary_alerts = wait_ready(
                    self.settings, self._client, stages, load, webhook, ingest_port
                )
                load.start()
                time.sleep(opts.warmup_s)
                for fault in opts.faults:
                    report.faults.append(self._inject(fault, stages, load))
                    time.sleep(opts.between_s)
                load.stop(drain_timeout_s=opts.final_timeout_s)
                self._final(report, stages, load, webhook)
        finally:
            webhook.stop()
            try:
                harness.drop_namespace(self.settings)
            except Exception as exc:
                logger.warning("cleanup failed: %s", exc)
        return report

    def _inject(self, fault: Fault, stages: harness.Stages, load: IngestLoad) -> FaultResult:
        self.echo(f"fault: {fault.name}")
        injected = now_ms()
        note = ""
        if fault.kind == "kill":
            if fault.target not in stages.names:
                return FaultResult(
                    fault.name, len(load.acked), None, "stage not running in this suite"
                )
            old = stages.kill9(fault.target)
            if not stages.wait_restarted(fault.target, old, 60):
                note = "supervisor did not restart it within 60 s"
        elif fault.kind == "restart":
            t0 = time.monotonic()
            self.stack.stop(fault.target)
            self.stack.start(fault.target)
            note = f"down {time.monotonic() - t0:.1f} s"
        else:
            self.stack.stop(fault.target)
            time.sleep(fault.duration_s)
            self.stack.start(fault.target)
        restored = now_ms()
        acked = [a.event_id for a in load.acked_snapshot().values()]
        t0 = time.monotonic()
        db = self.settings.clickhouse_database
        recovery = wait_stored(self._client, db, acked, self.opts.recovery_timeout_s)
        passages = None
        if "enrich" in self.opts.stages:
            waited = wait_found(
                self._client, db, acked, self.opts.passage_timeout_s, IN_PASSAGE_SQL
            )
            passages = round(time.monotonic() - t0, 2) if waited is not None else None
        self.echo(
            f"  stored after {recovery} s, in passages after {passages} s ({len(acked)} acknowledged so far)"
        )
        return FaultResult(fault.name, len(acked), recovery, note, passages, injected, restored)

    def _final(
        self,
        report: ChaosReport,
        stages: harness.Stages,
        load: IngestLoad,
        webhook: WebhookReceiver,
    ) -> None:
        acked = load.acked_snapshot()
        ids = list(acked)
        ack_times = [a.acked_ms for a in acked.values()]
        for k, r in enumerate(report.faults):
            end = report.faults[k + 1].injected_ms if k + 1 < len(report.faults) else now_ms()
            r.ack_gap_s = longest_ack_gap_s(ack_times, r.injected_ms, end)
        db = self.settings.clickhouse_database
        caught_up = wait_stored(self._client, db, ids, self.opts.final_timeout_s)
        client = self._client()
        hits = {a.event_id for a in acked.values() if a.hit}
        # Alerts: wait (bounded) until every hit has a delivered alert at the webhook.
        expected_alerts = len(hits)
        deadline = time.monotonic() + self.opts.final_timeout_s
        alerted: set[str] = set()
        while "enrich" in self.opts.stages and time.monotonic() < deadline:
            alerted = found_ids(client, db, sorted(hits), ALERTED_SQL) if hits else set()
            delivered_enough = "notify" not in self.opts.stages or (
                len(webhook.accepted) - len(self.canary_alerts) >= expected_alerts
            )
            if delivered_enough and alerted >= hits:
                break
            time.sleep(1.0)
        alert_rows = [
            (str(a), str(e))
            for a, e in client.query(
                f"SELECT alert_id, any(event_id) FROM {db}.alerts FINAL GROUP BY alert_id"
            ).result_rows
        ]
        in_passages = None
        if "enrich" in self.opts.stages:
            left = max(5.0, deadline - time.monotonic())
            waited = wait_found(self._client, db, ids, left, IN_PASSAGE_SQL)
            in_passages = len(found_ids(client, db, ids, IN_PASSAGE_SQL))
            report.checks["passages_caught_up_s"] = waited
        stored = stored_ids(client, db, ids)
        per_id = dict(
            client.query(
                f"SELECT event_id, count() FROM {db}.camera_events FINAL GROUP BY event_id HAVING count() > 1"
            ).result_rows
        )
        raw_dupes = int(
            str(client.command(f"SELECT count() - uniqExact(event_id) FROM {db}.camera_events"))
        )
        all_stored = {
            str(r[0])
            for r in client.query(f"SELECT DISTINCT event_id FROM {db}.camera_events").result_rows
        }
        phantom = len(all_stored - set(ids) - self.canary_ids)
        image_keys = client.query(
            f"SELECT event_id, image_keys FROM {db}.camera_events FINAL"
        ).result_rows
        images_missing, images_expected = diagnose.missing_images(self.settings, image_keys)
        alerted_events = alerted
        canary_passages = {
            str(r[0])
            for r in client.query(
                f"SELECT event_id FROM {db}.plate_events FINAL WHERE hasAny(read_ids, %(ids)s)",
                parameters={"ids": sorted(self.canary_ids) or [""]},
            ).result_rows
        }
        alert_rows = [(a, e) for a, e in alert_rows if e not in canary_passages]
        delivered = client.query(
            f"SELECT alert_id, countIf(status = 'delivered') FROM {db}.alert_deliveries FINAL GROUP BY alert_id"
        ).result_rows
        delivered_ok = {str(a): int(n) for a, n in delivered}
        accepted = {a: n for a, n in webhook.accepted.items() if a not in self.canary_alerts}
        across_kill, unexplained = redeliveries(
            {a: webhook.accepted_at[a] for a, n in accepted.items() if n > 1}, report.faults
        )
        lost = sorted(set(ids) - stored)
        alive = stages.alive()
        lag_left = diagnose.lag_left(self.settings, self.opts.stages)
        f = report.figures
        f.update(
            {
                "sent": load.sent,
                "acknowledged": len(acked),
                "stored": len(stored & set(ids)),
                "lost": len(lost),
                "in_passages": in_passages,
                "duplicated": len(per_id),
                "raw_duplicate_rows_before_merge": raw_dupes,
                "stored_not_acknowledged": phantom,
                "images_expected": images_expected,
                "images_missing": images_missing,
                "alerts_expected": expected_alerts,
                "alert_rows": len(alert_rows),
                "alerts_delivered": len([a for a, n in accepted.items() if n >= 1]),
                "alert_duplicates": sum(n - 1 for n in accepted.values() if n > 1),
                "alert_redeliveries_across_notify_kill": len(across_kill),
                "passages_with_several_alerts": sum(
                    1 for n in Counter(e for _, e in alert_rows).values() if n > 1
                ),
                "webhook_requests": webhook.requests,
                "webhook_refused": webhook.refused,
                "pushes_given_up": len(load.gave_up),
                "push_statuses": load.statuses,
                "restarts": dict(stages.supervisor.restarts),
                "caught_up_s": caught_up,
                "lag_left": lag_left,
            }
        )
        report.checks = {
            "alive": alive,
            "deliveries_delivered_once": sum(1 for n in delivered_ok.values() if n == 1),
        }
        p = report.problems
        if lost:
            p.append(f"{len(lost)} acknowledged events not in ClickHouse (e.g. {lost[:3]})")
            report.checks["lost"] = diagnose.lost_events(
                self.settings, lost, acked, report.faults, self.echo
            )
        if per_id:
            p.append(f"{len(per_id)} event ids more than once after FINAL")
        if images_missing:
            p.append(f"{images_missing} of {images_expected} images missing from the bucket")
        if images_expected < len(stored) + len(self.canary_ids):
            p.append(
                f"only {images_expected} image keys for {len(stored)} stored events (one image each was sent)"
            )
        if in_passages is not None and in_passages < len(ids):
            p.append(
                f"{len(ids) - in_passages} acknowledged events never merged into a passage (enrich stuck?)"
            )
        if "enrich" in stages.names:
            missing_alert_events = hits - alerted_events
            if missing_alert_events:
                p.append(f"{len(missing_alert_events)} watchlist hits without an alert row")
                report.checks["hits_without_alert"] = diagnose.hits_without_alert(
                    self.settings, client, sorted(missing_alert_events)[:20], self.echo
                )
        if "notify" in stages.names:
            if f["alerts_delivered"] < len(alert_rows):
                p.append(
                    f"{len(alert_rows) - f['alerts_delivered']} alerts never delivered to the webhook"
                )
            if unexplained:
                p.append(
                    f"{len(unexplained)} alerts delivered more than once to the webhook without a"
                    f" notifier crash between the deliveries (e.g. {unexplained[:3]})"
                )
            if across_kill:  # so there was a notifier kill; its time, for each copy's timing
                kill = next(r.injected_ms for r in report.faults if r.fault == "kill -9 notify")
                report.checks["redelivered_across_notify_kill"] = {
                    a: {
                        "accepted_ms_after_kill": [t - kill for t in webhook.accepted_at[a]],
                        "kill_ms": kill,
                    }
                    for a in across_kill
                }
        if f["passages_with_several_alerts"]:
            p.append(
                f"{f['passages_with_several_alerts']} watchlist hits raised more than one alert"
            )
        not_alive = [n for n, ok in alive.items() if not ok]
        if not_alive:
            p.append(f"stages not running at the end: {not_alive}")
        stuck = {g: v for g, v in lag_left.items() if v}
        if stuck:
            p.append(f"consumer groups with records left (stuck?): {stuck}")
        for r in report.faults:
            if r.recovery_s is None and "not running" not in r.note:
                p.append(f"no recovery after {r.fault}")
        if load.gave_up:
            p.append(f"{len(load.gave_up)} pushes never acknowledged after retries")


def run_suite(
    base: CommonSettings,
    options: ChaosOptions,
    echo: Callable[[str], None] = print,
    json_path: Path | None = None,
) -> ChaosReport:
    """The whole suite on a private stack: start it, run, stop it; optionally write the report as JSON."""
    from platestream.benchutil import machine, write_json

    started = iso_utc()
    if options.broker_engine == "memory" and any(
        f.target in ("broker", "s3") for f in options.faults
    ):
        raise ValueError(
            "broker restarts and S3 outages need broker_engine='s3' (a memory log is lost on restart)"
        )
    with harness.private_stack(base, ephemeral=options.broker_engine == "memory") as (
        settings,
        stack,
    ):
        report = ChaosRun(settings=settings, stack=stack, options=options, echo=echo).run()
    write_json(
        json_path,
        {
            **report.to_dict(),
            "machine": machine(),
            "started_at": started,
            "load_avg_at_end": [round(x, 2) for x in __import__("os").getloadavg()],
        },
    )
    return report
