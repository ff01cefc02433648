"""CTC decoding for plates: free and plate-format-constrained best paths, with confidences.

The recogniser's output is folded onto 37 classes (blank + 0-9 + A-Z): lower-case letters add to
their upper-case letter, separators and every other symbol add to the blank (a hyphen or a dot
between groups is not part of the plate). A plate format is a sequence of slots (allowed
characters per position); the constrained Viterbi finds the best path that emits exactly one
character per slot, so a slot that expects a digit turns a likely ``O`` into ``0`` only as far
as the probabilities allow, and a junk character (a frame edge read as ``I``) can be skipped by
paying for a blank there. All formats of a camera are decoded in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from platestream.plate_formats import BY_NAME, PlateFormat

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHAR_INDEX = {c: i for i, c in enumerate(ALPHABET)}
NEG = -1e9
EPS = 1e-8


@dataclass(frozen=True)
class Folding:
    """Which recogniser classes add up to each of the 36 plate characters."""

    upper: np.ndarray  # (36,) index of the character itself
    lower: np.ndarray  # (36,) index of its lower-case form (letters) or -1


def folding_matrix(charset: list[str]) -> Folding:
    """Indices of 0-9, A-Z and a-z in the recogniser's classes (index 0 = blank)."""
    pos = {ch: i for i, ch in enumerate(charset) if i > 0}
    upper = np.array([pos.get(c, -1) for c in ALPHABET])
    lower = np.array([pos.get(c.lower(), -1) if c.isalpha() else -1 for c in ALPHABET])
    if (upper < 0).any():
        missing = [c for c, i in zip(ALPHABET, upper, strict=True) if i < 0]
        raise ValueError(f"recogniser charset lacks plate characters {missing}")
    return Folding(upper, lower)


def fold(probs: np.ndarray, folding: Folding) -> np.ndarray:
    """``(T, C)`` recogniser probabilities -> ``(T, 37)``: blank (and every other symbol), 0-9, A-Z."""
    chars = probs[:, folding.upper].astype(np.float64)
    has_lower = folding.lower >= 0
    chars[:, has_lower] += probs[:, folding.lower[has_lower]]
    blank = np.clip(1.0 - chars.sum(1, keepdims=True), 0.0, 1.0)
    return np.concatenate([blank, chars], axis=1)


@dataclass
class Path:
    """A decoded string with its log score and, per character, confidence and centre frame."""

    text: str
    score: float
    char_conf: list[float]
    frames: list[int]
    format_name: str | None = None


def greedy(p37: np.ndarray) -> Path:
    """Best path without constraints (argmax per frame, repeats collapsed, blanks dropped)."""
    best = p37.argmax(1)
    score = float(np.log(p37.max(1) + EPS).sum())
    text, conf, frames = [], [], []
    prev = 0
    for t, k in enumerate(best):
        if k != 0 and k != prev:
            text.append(ALPHABET[k - 1])
            conf.append(float(p37[t, k]))
            frames.append(t)
        elif k != 0 and k == prev and p37[t, k] > conf[-1]:
            conf[-1] = float(p37[t, k])
            frames[-1] = t
        prev = k
    return Path("".join(text), score, conf, frames)


def _slot_masks(formats: tuple[PlateFormat, ...]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    seqs: dict[tuple[frozenset[str], ...], str] = {}
    for fmt in formats:
        for slots in fmt.slots:
            seqs.setdefault(slots, fmt.name)  # FR and IT share a shape: the first configured wins
    n_max = max(len(s) for s in seqs)
    mask = np.full((len(seqs), n_max, 36), NEG)
    lengths = np.array([len(s) for s in seqs])
    for p, slots in enumerate(seqs):
        for j, allowed in enumerate(slots):
            for ch in allowed:
                mask[p, j, CHAR_INDEX[ch]] = 0.0
    return mask, lengths, list(seqs.values())


_MASK_CACHE: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, list[str]]] = {}


def squeeze_blanks(p37: np.ndarray, threshold: float = 0.995) -> np.ndarray:
    """Merge runs of near-certain blank frames into one: same best paths, fewer frames to decode."""
    sure = p37[:, 0] >= threshold
    keep = ~(sure & np.concatenate([[False], sure[:-1]]))
    return p37[keep]


def constrained(
    p37: np.ndarray,
    formats: tuple[PlateFormat, ...],
    top: int = 3,
    *,
    near_length: int | None = None,
) -> list[Path]:
    """Best path for every slot sequence of ``formats``; the ``top`` best distinct texts.

    ``near_length``: only decode sequences within two characters of this length (the free
    reading's), which keeps many-format regions cheap.
    """
    key = tuple(f.name for f in formats)
    if key not in _MASK_CACHE:
        _MASK_CACHE[key] = _slot_masks(formats)
    mask, lengths, names = _MASK_CACHE[key]
    if near_length is not None:
        sel = np.flatnonzero(np.abs(lengths - near_length) <= 2)
        if sel.size == 0:
            return []
        mask, lengths, names = (
            mask[sel][:, : int(lengths[sel].max())],
            lengths[sel],
            [names[i] for i in sel],
        )
    P, N, _ = mask.shape
    T = p37.shape[0]
    lp = np.log(p37 + EPS)
    lp_blank, lp_char = lp[:, 0], lp[:, 1:]
    # C[p, j, c]: best score with slot j currently emitting char c; B[p, k]: blank after k chars.
    C = np.full((P, N, 36), NEG)
    B = np.full((P, N + 1), NEG)
    B[:, 0] = lp_blank[0]
    C[:, 0, :] = lp_char[0] + mask[:, 0, :]
    # back-pointers: for C, 0 stay, 1 from blank, 2 from previous slot's char (which: prev_c);
    # for B, 0 stay, 1 from the best char of slot k-1 (which: b_char)
    src_c = np.zeros((T, P, N, 36), dtype=np.int8)
    prev_c = np.zeros((T, P, N, 36), dtype=np.int8)
    src_b = np.zeros((T, P, N + 1), dtype=np.int8)
    b_char = np.zeros((T, P, N), dtype=np.int8)
    arange = np.arange(36)
    from_prev = np.full((P, N, 36), NEG)
    from_prev_arg = np.zeros((P, N, 36), dtype=np.int8)
    head = np.full((P, 1), NEG)
    for t in range(1, T):
        # the best and second-best character of each slot (the second for a repeated character,
        # which CTC can only emit again after a blank)
        a1 = C.argmax(2)
        v1 = C.max(2)
        is_best = arange == a1[..., None]
        C2 = np.where(is_best, NEG, C)
        a2 = C2.argmax(2)
        v2 = C2.max(2)
        same = is_best[:, :-1, :]
        from_prev[:, 1:, :] = np.where(same, v2[:, :-1, None], v1[:, :-1, None])
        from_prev_arg[:, 1:, :] = np.where(same, a2[:, :-1, None], a1[:, :-1, None])
        from_blank = B[:, :N, None]
        # stay (0), from a blank (1) or from the previous slot (2); ties go to the lower choice
        stay_or_blank = np.maximum(C, from_blank)
        choice = np.where(from_prev > stay_or_blank, 2, (from_blank > C).astype(np.int8))
        newC = np.maximum(stay_or_blank, from_prev) + lp_char[t][None, None, :] + mask
        from_c = np.concatenate([head, v1], axis=1)
        choice_b = (from_c > B).astype(np.int8)
        newB = np.maximum(B, from_c) + lp_blank[t]
        src_c[t], prev_c[t], src_b[t], b_char[t] = choice, from_prev_arg, choice_b, a1
        C, B = newC, newB
    paths: list[Path] = []
    finals = []
    for p in range(P):
        n = lengths[p]
        cbest = int(C[p, n - 1].argmax())
        end_c, end_b = C[p, n - 1, cbest], B[p, n]
        finals.append((max(end_c, end_b), p, cbest, end_c >= end_b))
    # equal paths (a generic pattern emits the same text as a specific one): the specific
    # format names the reading, so it sorts first
    specific = {name: not BY_NAME[name].generic for name in set(names)}
    finals.sort(key=lambda f: (f[0], specific[names[f[1]]]), reverse=True)
    seen: set[str] = set()
    for score, p, cbest, ends_in_char in finals:
        if len(paths) >= top or score <= NEG / 2:
            break
        path = _backtrack(
            p, int(lengths[p]), cbest, bool(ends_in_char), (src_c, prev_c, src_b, b_char), p37
        )
        if path[0] in seen:
            continue
        seen.add(path[0])
        paths.append(Path(path[0], float(score), path[1], path[2], names[p]))
    return paths


def _backtrack(
    p: int, n: int, cbest: int, ends_in_char: bool, ptr: tuple[np.ndarray, ...], p37: np.ndarray
) -> tuple[str, list[float], list[int]]:
    """Follow the back-pointers of slot sequence ``p``; returns text, char confidences, frames."""
    src_c, prev_c, src_b, b_char = ptr
    kind, j, c = ("c", n - 1, cbest) if ends_in_char else ("b", n, -1)
    emitted: dict[int, tuple[int, list[int]]] = {}
    for t in range(p37.shape[0] - 1, -1, -1):
        if kind == "c":
            emitted.setdefault(j, (c, []))[1].append(t)
            if t == 0:
                break
            s = src_c[t, p, j, c]
            if s == 1:
                kind = "b"
            elif s == 2:
                j, c = j - 1, int(prev_c[t, p, j, c])
        else:
            if t == 0:
                break
            if src_b[t, p, j] == 1:
                kind, j, c = "c", j - 1, int(b_char[t, p, j - 1])
    text, conf, frames = [], [], []
    for j in sorted(emitted):
        c, ts = emitted[j]
        text.append(ALPHABET[c])
        probs = [float(p37[tt, c + 1]) for tt in ts]
        k = int(np.argmax(probs))
        conf.append(probs[k])
        frames.append(ts[k])
    return "".join(text), conf, frames
