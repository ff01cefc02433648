"""CTC decoding: folding, greedy, and plate-format-constrained paths."""

from __future__ import annotations

import numpy as np

from platestream.plate_formats import formats_for
from services.detect import ctc


def _probs(frames: list[dict[str, float]]) -> np.ndarray:
    """A (T, 37) matrix from per-frame {char: prob}; the rest of each row goes to the blank."""
    p = np.full((len(frames), 37), 1e-4)
    for t, row in enumerate(frames):
        for ch, v in row.items():
            p[t, 0 if ch == "-" else ctc.CHAR_INDEX[ch] + 1] = v
        p[t, 0] += max(0.0, 1.0 - p[t].sum())
    return p / p.sum(1, keepdims=True)


def _plate(text: str, overrides: dict[int, dict[str, float]] | None = None) -> np.ndarray:
    frames: list[dict[str, float]] = []
    for i, ch in enumerate(text):
        frames.append((overrides or {}).get(i, {ch: 0.95}))
        frames.append({"-": 0.95})
    return _probs(frames)


def test_greedy_collapses_repeats_and_blanks() -> None:
    p = _probs([{"A": 0.9}, {"A": 0.9}, {"-": 0.9}, {"A": 0.8}, {"1": 0.7}])
    path = ctc.greedy(p)
    assert path.text == "AA1"
    assert len(path.char_conf) == 3
    assert abs(path.char_conf[2] - 0.7) < 0.01


def test_digit_slot_turns_o_into_zero() -> None:
    # ABC0234 read with the 4th character more O than 0: BR_OLD wants a digit there
    p = _plate("ABCO234", {3: {"O": 0.6, "0": 0.35}})
    assert ctc.greedy(p).text == "ABCO234"
    best = ctc.constrained(p, formats_for(["BR"]))[0]
    assert best.text == "ABC0234"
    assert best.format_name == "BR_OLD"
    assert best.char_conf[3] < 0.5  # the forced character keeps its low confidence


def test_letter_slot_turns_one_into_i_for_mercosur() -> None:
    p = _plate("AB11D23", {2: {"1": 0.55, "I": 0.4}})
    best = ctc.constrained(p, formats_for(["BR"]))[0]
    assert best.text == "ABI1D23"
    assert best.format_name == "BR_MERCOSUR"


def test_extra_frame_character_is_skipped() -> None:
    # a plate frame edge read as a leading I: the 7-slot format drops it
    p = _plate("IABC1234", {0: {"I": 0.7}})
    assert ctc.greedy(p).text == "IABC1234"
    best = ctc.constrained(p, formats_for(["BR"]), near_length=8)[0]
    assert best.text == "ABC1234"


def test_fold_adds_lower_case_and_symbols_to_blank() -> None:
    charset = ["<blank>", "a", "A", "-", "0", *list("123456789BCDEFGHIJKLMNOPQRSTUVWXYZ"), " "]
    probs = np.zeros((1, len(charset)))
    probs[0, 1], probs[0, 2], probs[0, 3] = 0.3, 0.3, 0.4
    folded = ctc.fold(probs, ctc.folding_matrix(charset))
    assert abs(folded[0, ctc.CHAR_INDEX["A"] + 1] - 0.6) < 1e-9
    assert abs(folded[0, 0] - 0.4) < 1e-9


def test_squeeze_blanks_keeps_best_path() -> None:
    p = _probs([{"A": 0.9}, {"-": 0.999}, {"-": 0.999}, {"-": 0.999}, {"A": 0.9}])
    squeezed = ctc.squeeze_blanks(p)
    assert squeezed.shape[0] == 3
    assert ctc.greedy(squeezed).text == "AA"


def test_specific_format_names_a_text_that_generic_patterns_also_fit() -> None:
    best = ctc.constrained(_plate("MX13ZSA"), formats_for(["ANY"]))[0]
    assert best.text == "MX13ZSA"
    assert best.format_name == "GB"
