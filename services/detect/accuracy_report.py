"""What an operator needs to pick a review threshold: recall by plate size, character confusions, accuracy per threshold.

Every figure is computed from the list of cases ``bench_accuracy.evaluate`` collects (one per
labelled plate), so it is pure and fast to test. A case's ``confidence`` is what detect emits with
the read (``PlateRead.confidence``: reading confidence x detection score), which is what the review
queue's threshold (``PLATESTREAM_API_REVIEW_THRESHOLD``) compares against.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Edges of the plate-height buckets (labelled box height, px). The recogniser reads lines 48 px
# high (ocr.REC_HEIGHT): from ~45 px up a crop is only shrunk, below it is blown up from fewer
# pixels than the model reads; under ~20 px the characters are ~10-14 px tall, where reading
# breaks down. 70 and 100 split the large plates (the br set is 48-262 px, median 84).
SIZE_EDGES = (20, 30, 45, 70, 100)
THRESHOLD_STEP = 0.05
EXACT_TARGETS = (0.95, 0.98, 0.99)
TOP_CONFUSIONS = 20


class CaseLike(Protocol):
    """The fields of ``bench_accuracy.Case`` these figures use."""

    @property
    def label(self) -> str: ...
    @property
    def read(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def label_height(self) -> int: ...
    @property
    def detected(self) -> bool: ...
    @property
    def exact(self) -> bool: ...


@dataclass(frozen=True)
class Bucket:
    low: int
    high: int | None  # None: no upper bound

    @property
    def name(self) -> str:
        if self.low == 0:
            return f"<{self.high}"
        return f">={self.low}" if self.high is None else f"{self.low}-{self.high}"

    def holds(self, height: int) -> bool:
        return height >= self.low and (self.high is None or height < self.high)


def buckets(edges: Sequence[int] = SIZE_EDGES) -> list[Bucket]:
    bounds = [0, *edges]
    return [Bucket(lo, hi) for lo, hi in zip(bounds, [*edges, None], strict=True)]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def by_plate_size(
    cases: Sequence[CaseLike], edges: Sequence[int] = SIZE_EDGES
) -> list[dict[str, Any]]:
    """Per height bucket: plates, detection recall, exact accuracy (empty buckets included)."""
    out = []
    for b in buckets(edges):
        inside = [c for c in cases if b.holds(c.label_height)]
        out.append(
            {
                "bucket": b.name,
                "min_px": b.low,
                "max_px": b.high,
                "plates": len(inside),
                "detection_recall": _share(sum(c.detected for c in inside), len(inside)),
                "exact_accuracy": _share(sum(c.exact for c in inside), len(inside)),
            }
        )
    return out


def confusions(cases: Sequence[CaseLike]) -> dict[str, Any]:
    """Character substitutions of same-length reads (most frequent first), and length errors."""
    pairs: Counter[tuple[str, str]] = Counter()
    same = same_wrong = too_long = too_short = no_read = 0
    for c in cases:
        if not c.detected or c.read is None:
            no_read += 1
        elif len(c.read) > len(c.label):
            too_long += 1
        elif len(c.read) < len(c.label):
            too_short += 1
        else:
            same += 1
            same_wrong += not c.exact
            pairs.update((t, r) for t, r in zip(c.label, c.read, strict=True) if t != r)
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "same_length_reads": same,
        "same_length_wrong": same_wrong,
        "too_long": too_long,
        "too_short": too_short,
        "no_read": no_read,
        "substitutions": [{"true": t, "read": r, "count": n} for (t, r), n in ranked],
    }


def threshold_curve(
    cases: Sequence[CaseLike], step: float = THRESHOLD_STEP
) -> list[dict[str, Any]]:
    """Per threshold t in 0..1: reads auto-accepted (confidence >= t), their exact share, the rest.

    Shares are of all labelled plates: accepted + review + missed = 1 (a missed plate has no read,
    so it reaches neither the store nor the review queue).
    """
    n = len(cases)
    reads = [(c.confidence or 0.0, c.exact) for c in cases if c.detected and c.read is not None]
    steps = round(1 / step)
    out = []
    for i in range(steps + 1):
        t = round(i * step, 4)
        accepted = [ok for conf, ok in reads if conf >= t]
        right = sum(accepted)
        out.append(
            {
                "threshold": t,
                "accepted": len(accepted),
                "accepted_share": _share(len(accepted), n),
                "accepted_exact": _share(right, len(accepted)) if accepted else None,
                "accepted_wrong": len(accepted) - right,
                "review_share": _share(len(reads) - len(accepted), n),
                "missed_share": _share(n - len(reads), n),
            }
        )
    return out


def thresholds_for(
    curve: Sequence[dict[str, Any]], targets: Sequence[float] = EXACT_TARGETS
) -> dict[str, Any]:
    """The lowest threshold on the curve whose auto-accepted reads are at least each target exact.

    Lowest, because it sends the fewest reads to review. ``None`` when no threshold reaches it.
    """
    out: dict[str, Any] = {}
    for target in targets:
        hit = next(
            (p for p in curve if p["accepted"] and p["accepted_exact"] >= target),
            None,
        )
        out[f"{target:.2f}"] = (
            None
            if hit is None
            else {
                "threshold": hit["threshold"],
                "accepted_share": hit["accepted_share"],
                "review_share": hit["review_share"],
            }
        )
    return out


def sections(cases: Sequence[CaseLike]) -> dict[str, Any]:
    """The three sections ``evaluate`` adds to its report."""
    curve = threshold_curve(cases)
    return {
        "by_plate_size": by_plate_size(cases),
        "confusions": confusions(cases),
        "threshold_curve": curve,
        "thresholds_for_exact": thresholds_for(curve),
    }


def render(report: dict[str, Any]) -> list[str]:
    """Text lines of the three sections (top confusions only; the JSON has them all)."""
    lines = [
        "by plate height (labelled box, px):",
        f"  {'height':8} {'plates':>6} {'recall':>7} {'exact':>7}",
    ]
    for b in report["by_plate_size"]:
        lines.append(
            f"  {b['bucket']:8} {b['plates']:>6} {b['detection_recall']:>7.2%} {b['exact_accuracy']:>7.2%}"
        )
    conf = report["confusions"]
    subs = conf["substitutions"]
    lines.append(
        f"characters: {conf['same_length_reads']} reads of the label's length ({conf['same_length_wrong']} wrong), "
        f"{conf['too_long']} too long, {conf['too_short']} too short, {conf['no_read']} not read"
    )
    if subs:
        lines.append(
            "  true->read: "
            + ", ".join(f"{s['true']}->{s['read']} {s['count']}" for s in subs[:TOP_CONFUSIONS])
        )
    lines.append("confidence threshold (reads >= t auto-accepted; shares of all plates):")
    lines.append(
        f"  {'t':>4} {'accepted':>8} {'exact':>7} {'wrong':>5} {'review':>7} {'missed':>7}"
    )
    for p in report["threshold_curve"]:
        exact = "-" if p["accepted_exact"] is None else f"{p['accepted_exact']:.2%}"
        lines.append(
            f"  {p['threshold']:>4.2f} {p['accepted_share']:>8.2%} {exact:>7} {p['accepted_wrong']:>5} "
            f"{p['review_share']:>7.2%} {p['missed_share']:>7.2%}"
        )
    for target, hit in report["thresholds_for_exact"].items():
        what = (
            "not reached"
            if hit is None
            else f"t={hit['threshold']:.2f} (accepts {hit['accepted_share']:.2%}, reviews {hit['review_share']:.2%})"
        )
        lines.append(f"  lowest t with >= {float(target):.0%} exact among accepted: {what}")
    return lines


def plot(report: dict[str, Any], path: Path, title: str) -> Path:
    """PNG: exact share among auto-accepted reads (top) and where plates go (bottom) per threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = report["threshold_curve"]
    ts = [p["threshold"] for p in curve]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True)
    pts = [
        (p["threshold"], 100 * p["accepted_exact"])
        for p in curve
        if p["accepted_exact"] is not None
    ]
    if pts:
        top.plot(*zip(*pts, strict=True), marker="o", ms=3, label="exact among auto-accepted")
    for target in EXACT_TARGETS:
        top.axhline(100 * target, ls=":", lw=0.8, color="grey")
    top.set_ylabel("% exact")
    top.set_title("accuracy of the reads a threshold lets through")
    top.legend(fontsize=8, loc="lower right")
    bottom.stackplot(
        ts,
        [100 * p["accepted_share"] for p in curve],
        [100 * p["review_share"] for p in curve],
        [100 * p["missed_share"] for p in curve],
        labels=["auto-accepted", "sent to review", "not detected"],
        alpha=0.8,
    )
    bottom.set_ylim(0, 100)
    bottom.set_ylabel("% of labelled plates")
    bottom.set_xlabel("review threshold (read confidence x detection score)")
    bottom.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
