"""How the reads of one passage agree on a plate: the distance test and the character vote.

``within`` decides whether a read's plate is close enough to a passage's (or a watchlist entry's);
``consensus`` turns the variants read during a passage into one plate by a per-character vote
weighted by confidence, aligning variants of other lengths with ``align`` first.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from platestream.plates import CONFUSABLE_COST, fold, plate_distance, substitution_cost


def within(a: str, b: str, limit: float) -> float | None:
    """None when plate_distance(a, b) > limit, else the distance (decision exact; value exact or,
    when folded look-alikes are involved, an estimate between the folded and plain edit distances
    that only ranks candidate passages). Most pairs are rejected in C by rapidfuzz."""
    if a == b:
        return 0.0
    if abs(len(a) - len(b)) > limit:
        return None
    cutoff = int(limit)
    lower = Levenshtein.distance(fold(a), fold(b), score_cutoff=cutoff)
    if lower > cutoff:
        return None
    upper = Levenshtein.distance(a, b)
    if upper <= limit:
        # Every edit is within the limit even at full cost; the edits that folding removed are
        # confusable substitutions (cost CONFUSABLE_COST), so this is the weighted distance in the
        # usual case, without the pure-Python dynamic programme.
        return lower + CONFUSABLE_COST * (upper - lower)
    d = plate_distance(a, b)
    return d if d <= limit else None


def align(ref: str, other: str) -> list[int | None]:
    """For each character of ``other``, the position in ``ref`` it aligns to (None: an insertion).

    Minimal weighted edit alignment (confusable substitutions cheaper), ties prefer substitution,
    so "ABC123" vs "ABC1234" aligns the first six characters and leaves the extra one out.
    """
    n, m = len(ref), len(other)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = float(i)
    for j in range(1, m + 1):
        cost[0][j] = float(j)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(
                cost[i - 1][j - 1] + substitution_cost(ref[i - 1], other[j - 1]),
                cost[i - 1][j] + 1.0,
                cost[i][j - 1] + 1.0,
            )
    out: list[int | None] = [None] * m
    i, j = n, m
    while i > 0 and j > 0:
        if cost[i][j] == cost[i - 1][j - 1] + substitution_cost(ref[i - 1], other[j - 1]):
            out[j - 1] = i - 1
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1.0:
            i -= 1
        else:
            j -= 1
    return out


def consensus(
    variants: dict[str, tuple[float, list[float]]], best_confidence: float
) -> tuple[str, float]:
    """Per-character vote weighted by confidence.

    ``variants``: plate -> (sum of read confidences, per-position sums of character confidences).
    The length is the one with the most weight; variants of that length vote position by position;
    variants of other lengths are aligned to the heaviest variant of that length and vote with the
    characters that align (an extra or missing character does not shift the others).
    Confidence: the best read's confidence times the mean share of the winning character's weight.
    """
    if not variants:
        return "", 0.0
    if len(variants) == 1:
        return next(iter(variants)), round(min(1.0, best_confidence), 4)
    by_len: dict[int, float] = {}
    for plate, (weight, _) in variants.items():
        by_len[len(plate)] = by_len.get(len(plate), 0.0) + weight
    length = max(by_len, key=lambda n: (by_len[n], n))
    ref = max((p for p in variants if len(p) == length), key=lambda p: (variants[p][0], p))
    votes: list[dict[str, float]] = [{} for _ in range(length)]
    for plate, (_, per) in variants.items():
        if len(plate) == length:
            positions: list[int | None] = list(range(length))
        else:
            positions = align(ref, plate)
        for j, pos in enumerate(positions):
            if pos is None:
                continue
            ch = plate[j]
            votes[pos][ch] = votes[pos].get(ch, 0.0) + per[j]
    chars = []
    share = 0.0
    for pos, box in enumerate(votes):
        if not box:
            chars.append(ref[pos])
            continue
        ch = max(box, key=lambda c: (box[c], c == ref[pos], c))
        total = sum(box.values())
        share += box[ch] / total if total > 0 else 1.0
        chars.append(ch)
    agreement = share / length if length else 0.0
    return "".join(chars), round(min(1.0, best_confidence) * agreement, 4)
