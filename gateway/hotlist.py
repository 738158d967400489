"""Hot lists: entries, the two import formats (HOTLISTS.md), and the matcher.

The matcher keeps only what matching needs (id, plate, expiry) in memory, so that an NCIC-size list
of a million entries fits; the full entry is read from the store when a hit is made.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import NamedTuple

CATEGORIES = {
    "stolen-vehicle": "stolen vehicle",
    "stolen-plate": "stolen plate",
    "wanted-person": "wanted person",
    "missing-person": "missing person",
    "amber": "AMBER alert",
    "bolo": "be on the lookout",
    "felony-vehicle": "felony vehicle",
    "protection-order": "protection order",
}
NCIC_CATEGORY = {
    "V": "stolen-vehicle",
    "LP": "stolen-plate",
    "W": "wanted-person",
    "M": "missing-person",
    "A": "amber",
    "B": "bolo",
    "F": "felony-vehicle",
    "P": "protection-order",
}
# The fields of an entry, as named in files, the store and alerts.
ENTRY_FIELDS = (
    "plate",
    "state",
    "category",
    "case_number",
    "reason",
    "requested_by",
    "contact",
    "instructions",
    "expires",
)
CSV_FIELDS = list(ENTRY_FIELDS)
NCIC_FIELDS = ["record", "category", "plate", "state", *ENTRY_FIELDS[3:]]
# Characters an OCR confuses; each group is one equivalence class for matching.
CONFUSION_CLASSES = ("0ODQ", "1ILT", "2Z", "5S", "8B", "6G")
CANON = str.maketrans({c: group[0] for group in CONFUSION_CLASSES for c in group})
PLATE_RE = re.compile(r"^[A-Z0-9?*]{1,10}$")
STATE_RE = re.compile(r"^[A-Z]{2}$")


class EntryError(ValueError):
    """A hot-list entry that cannot be accepted; the message says which field and why."""


class Entry(NamedTuple):
    """A validated entry (a tuple: a million of them must import quickly)."""

    plate: str
    state: str | None
    source: str
    category: str
    case_number: str
    reason: str
    requested_by: str
    contact: str
    instructions: str
    expires: dt.date

    @property
    def is_partial(self) -> bool:
        return "?" in self.plate or "*" in self.plate

    def row(self, added: float) -> tuple[object, ...]:
        """The values for store.INSERT_ENTRY."""
        return (
            self.source,
            self.plate,
            self.state,
            self.category,
            self.case_number,
            self.reason,
            self.requested_by,
            self.contact,
            self.instructions,
            self.expires.isoformat(),
            added,
        )

    def expired(self, today: dt.date | None = None) -> bool:
        return self.expires < (today or dt.datetime.now(dt.UTC).date())


def canonical(text: str) -> str:
    """The plate with each confusable character replaced by its class representative."""
    return text.translate(CANON)


def _required(fields: dict[str, str], key: str) -> str:
    value = (fields.get(key) or "").strip()
    if not value:
        raise EntryError(f"{key}: missing")
    return value


def make_entry(fields: dict[str, str], source: str) -> Entry:
    """Validate one entry; every field is required except the state."""
    plate = (fields.get("plate") or "").strip().upper().replace(" ", "").replace("-", "")
    if not plate:
        raise EntryError("plate: missing")
    if not PLATE_RE.match(plate):
        raise EntryError(
            f"plate: {plate!r} may hold only A-Z, 0-9, ? (one character) and * (any run)"
        )
    if len(plate) - plate.count("?") - plate.count("*") < 2:
        raise EntryError(f"plate: {plate!r} needs at least 2 known characters")
    state = (fields.get("state") or "").strip().upper() or None
    if state is not None and not STATE_RE.match(state):
        raise EntryError(f"state: {state!r} is not a 2-letter code")
    category = (fields.get("category") or "").strip().lower()
    if category not in CATEGORIES:
        raise EntryError(f"category: {category!r} is not one of {', '.join(CATEGORIES)}")
    source = source.strip()
    if not source:
        raise EntryError("source: missing")
    return Entry(
        plate,
        state,
        source,
        category,
        _required(fields, "case_number"),
        _required(fields, "reason"),
        _required(fields, "requested_by"),
        _required(fields, "contact"),
        _required(fields, "instructions"),
        parse_date((fields.get("expires") or "").strip()),
    )


@lru_cache(maxsize=4096)
def parse_date(raw: str) -> dt.date:
    """YYYY-MM-DD or YYYYMMDD; cached, since a list holds few distinct expiry dates."""
    if not raw:
        raise EntryError("expires: missing (every entry needs an expiry date)")
    try:
        return dt.date.fromisoformat(raw if "-" in raw else f"{raw[:4]}-{raw[4:6]}-{raw[6:8]}")
    except ValueError:
        raise EntryError(f"expires: {raw!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str
    whole_file: bool = False  # the file cannot be read at all (a bad header)

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRefused(ValueError):
    """A hot-list file refused whole; the message names the file and the reason."""

    def __init__(self, message: str, errors: list[LineError]) -> None:
        super().__init__(message)
        self.errors = errors


def refusal(
    name: str, good: int, errors: list[LineError], max_bad_share: float, previous: int
) -> str | None:
    """Why a parsed file must not replace its source's list, or None when it may.

    A bad header, no valid line, or more than `max_bad_share` of the lines bad: any of these would
    empty or gut a source at the next import, so the previous list stays active instead.
    """
    keep = f"the previous list ({previous} entries) stays active"
    header = next((e for e in errors if e.whole_file), None)
    if header is not None:
        return f"refused {name}: bad header ({header.reason}); {keep}"
    total = good + len(errors)
    if good == 0:
        return f"refused {name}: no valid line ({len(errors)} bad of {total}); {keep}"
    share = len(errors) / total
    if share > max_bad_share:
        return (
            f"refused {name}: {len(errors)} of {total} lines bad"
            f" ({100 * share:.0f} % > {100 * max_bad_share:.0f} %); {keep}"
        )
    return None


def parse(text: str, source: str, fmt: str) -> tuple[list[Entry], list[LineError]]:
    """Good entries and the bad lines (with their line number and reason) of a hot-list file."""
    errors: list[LineError] = []
    return list(iter_entries(text, source, fmt, errors)), errors


def iter_entries(text: str, source: str, fmt: str, errors: list[LineError]) -> Iterator[Entry]:
    """The good entries, one at a time; bad lines are appended to `errors` as they are met."""
    for line_no, fields in _rows(text, fmt, errors):
        try:
            yield make_entry(fields, source)
        except EntryError as exc:
            errors.append(LineError(line_no, str(exc)))


def _rows(text: str, fmt: str, errors: list[LineError]) -> Iterator[tuple[int, dict[str, str]]]:
    if fmt == "csv":
        # newline="": the csv module reads \r, \n and \r\n line ends itself (a lone \r is not
        # a crash); a line it cannot read is a bad line, and the lines after it are still read
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            fields = reader.fieldnames or []
        except csv.Error as exc:
            errors.append(LineError(1, f"header unreadable: {exc}", whole_file=True))
            return
        missing = [f for f in CSV_FIELDS if f not in fields]
        if missing:
            errors.append(LineError(1, f"header lacks {', '.join(missing)}", whole_file=True))
            return
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                errors.append(LineError(reader.line_num, f"unreadable CSV: {exc}"))
                continue
            if None in row:
                errors.append(LineError(reader.line_num, "more fields than the header"))
                continue
            yield reader.line_num, row
    elif fmt == "ncic":
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != len(NCIC_FIELDS):
                errors.append(
                    LineError(
                        line_no,
                        f"expected {len(NCIC_FIELDS)} '|'-separated fields, got {len(parts)}",
                    )
                )
                continue
            row = dict(zip(NCIC_FIELDS, parts, strict=True))
            code = row["category"].upper()
            if code not in NCIC_CATEGORY:
                errors.append(LineError(line_no, f"category: unknown NCIC code {code!r}"))
                continue
            row["category"] = NCIC_CATEGORY[code]
            yield line_no, row
    else:
        raise ValueError(f"unknown hot-list format {fmt!r} (csv or ncic)")


@dataclass(frozen=True)
class Match:
    entry_id: int
    plate: str
    kind: str  # exact, alternate, confusion, wildcard
    matched_text: str
    # The read names a state and the entry another one. The hit still stands (the state guess can
    # be wrong, and plates move between states); the officer is told to check it.
    state_differs: bool = False


def wildcard_regex(plate: str) -> re.Pattern[str]:
    return re.compile("".join("." if c == "?" else ".*" if c == "*" else c for c in plate) + r"\Z")


def _literal_chunks(plate: str) -> list[str]:
    return [c for c in re.split(r"[?*]+", plate) if c]


class Matcher:
    """Exact, wildcard and confusion-tolerant matching of reads against the active entries."""

    def __init__(
        self,
        entries: Iterable[
            tuple[int, str, dt.date | str] | tuple[int, str, dt.date | str, str | None]
        ],
        max_substitutions: int = 1,
    ) -> None:
        """`entries` are (id, plate, expiry as a date or ISO string[, state]); a million load in seconds."""
        self.max_substitutions = max_substitutions
        self.ids = array("q")
        self.plates: list[str] = []
        self.states: dict[int, str] = {}  # only entries that name a state
        self.expires = array("l")
        self.by_canon: dict[str, int | list[int]] = {}  # a list only where plates share a key
        self.wild_by_chunk: dict[str, list[int]] = {}
        self.wild_regex: dict[int, re.Pattern[str]] = {}
        self.chunk_lengths: set[int] = set()
        ordinals: dict[dt.date | str, int] = {}  # few distinct expiry dates: convert each once
        add_id, add_plate, add_expiry = self.ids.append, self.plates.append, self.expires.append
        by_canon = self.by_canon
        for i, entry in enumerate(entries):
            entry_id, plate, expires = entry[0], entry[1], entry[2]
            if len(entry) > 3 and entry[3]:
                self.states[i] = str(entry[3]).upper()
            day = ordinals.get(expires)
            if day is None:
                date = expires if isinstance(expires, dt.date) else dt.date.fromisoformat(expires)
                day = ordinals[expires] = date.toordinal()
            add_id(entry_id)
            add_plate(plate)
            add_expiry(day)
            if "?" in plate or "*" in plate:
                chunk = max(_literal_chunks(plate), key=len)
                self.wild_by_chunk.setdefault(chunk, []).append(i)
                self.chunk_lengths.add(len(chunk))
                self.wild_regex[i] = wildcard_regex(plate)
                continue
            key = plate.translate(CANON)
            known = by_canon.setdefault(key, i)
            if isinstance(known, list):
                known.append(i)
            elif known != i:
                by_canon[key] = [known, i]

    def __len__(self) -> int:
        return len(self.plates)

    def match(
        self,
        text: str,
        alternates: Iterable[str] = (),
        today: dt.date | None = None,
        state: str | None = None,
    ) -> list[Match]:
        """Every active entry the read matches, best kind first: exact, alternate, confusion, wildcard.

        `state` is the reader's guess of the state of issuance (None when unsure); a match with an
        entry of another state is kept and marked `state_differs`.
        """
        day = (today or dt.datetime.now(dt.UTC).date()).toordinal()
        found: dict[int, Match] = {}
        candidates = [(text, "exact"), *((a, "alternate") for a in alternates if a != text)]
        for read_text, kind in candidates:
            hit = self.by_canon.get(read_text.translate(CANON))
            for i in () if hit is None else (hit,) if isinstance(hit, int) else hit:
                if i in found or self.expires[i] < day:
                    continue
                plate = self.plates[i]
                if plate == read_text:
                    found[i] = Match(self.ids[i], plate, kind, read_text)
                elif kind == "exact" and len(plate) == len(read_text):
                    subs = sum(a != b for a, b in zip(plate, read_text, strict=True))
                    if subs <= self.max_substitutions:
                        found[i] = Match(self.ids[i], plate, "confusion", read_text)
        if self.wild_regex:
            for read_text, _ in candidates:
                for i in self._wild_candidates(read_text):
                    if (
                        i not in found
                        and self.expires[i] >= day
                        and self.wild_regex[i].match(read_text)
                    ):
                        found[i] = Match(self.ids[i], self.plates[i], "wildcard", read_text)
        order = {"exact": 0, "alternate": 1, "confusion": 2, "wildcard": 3}
        if state and self.states:
            for i, m in found.items():
                known = self.states.get(i)
                if known is not None and known != state.upper():
                    found[i] = dataclasses.replace(m, state_differs=True)
        return sorted(found.values(), key=lambda m: order[m.kind])

    def _wild_candidates(self, text: str) -> Iterator[int]:
        seen: set[int] = set()
        for n in self.chunk_lengths:
            for start in range(len(text) - n + 1):
                for i in self.wild_by_chunk.get(text[start : start + n], ()):
                    if i not in seen:
                        seen.add(i)
                        yield i


def confusable_pairs(plates: Iterable[tuple[int, str]]) -> list[tuple[int, str, int, str]]:
    """Pairs of distinct full plates that differ only by confusable characters (for `hotlist lint`)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for entry_id, plate in plates:
        if "?" not in plate and "*" not in plate:
            groups.setdefault(canonical(plate), []).append((entry_id, plate))
    pairs = []
    for members in groups.values():
        for (ia, a), (ib, b) in combinations(members, 2):
            if a != b:
                pairs.append((ia, a, ib, b))
    return pairs
