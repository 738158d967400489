"""Writes the console's alert chime (gateway/web/static/chime.wav): two short sine tones with a soft
decay, 16-bit mono at 16 kHz, made here so the sound ships without anyone else's recording.

Run `python -m tools.chime` after changing it; a test checks that the shipped file is this output.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

RATE = 16_000
TONES = ((880.0, 0.18), (1320.0, 0.30))  # (Hz, seconds): a rising two-note chime
PATH = Path(__file__).resolve().parent.parent / "gateway" / "web" / "static" / "chime.wav"


def chime() -> bytes:
    samples: list[int] = []
    for freq, seconds in TONES:
        n = int(RATE * seconds)
        for i in range(n):
            t = i / RATE
            envelope = min(1.0, i / (0.01 * RATE)) * math.exp(-5.0 * t)
            samples.append(int(0.6 * 32767 * envelope * math.sin(2 * math.pi * freq * t)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


if __name__ == "__main__":
    PATH.write_bytes(chime())
