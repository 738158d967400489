"""CTC decoding: repeats merge, blanks separate, alternates come from the runner-up class."""

from __future__ import annotations

import numpy as np

from gateway.reader.ocr import ALPHABET, BLANK, decode


def columns(seq: list[str], second: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    """One column per entry: '-' is blank; each column gives its class 0.9."""
    probs = np.full((len(seq), len(ALPHABET) + 1), 0.1 / len(ALPHABET), np.float32)
    for t, ch in enumerate(seq):
        cls = BLANK if ch == "-" else ALPHABET.index(ch) + 1
        probs[t, cls] = 0.9
        if second and t in second:
            alt, p = second[t]
            probs[t, ALPHABET.index(alt) + 1] = p
    return probs


def test_repeats_merge_and_blanks_split() -> None:
    read = decode(columns(list("--AA-B--11-1--")))
    assert read.text == "AB11"
    assert 0.6 < read.confidence < 0.7  # 0.9 ** 4


def test_all_blank_reads_nothing() -> None:
    read = decode(columns(["-"] * 8))
    assert read.text == "" and read.confidence == 0.0 and read.alternates == []


def test_alternates_substitute_one_slot() -> None:
    read = decode(columns(list("-0-8-"), second={1: ("O", 0.08), 3: ("B", 0.05)}))
    assert read.text == "08"
    texts = [t for t, _ in read.alternates]
    assert texts == ["O8", "0B"]
    assert read.alternates[0][1] > read.alternates[1][1]
