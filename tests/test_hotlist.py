"""Hot lists: entry rules, both import formats, atomic replacement, and matching vs. brute force."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import hotlist
from gateway.hotlist import CONFUSION_CLASSES, Matcher, canonical, make_entry, parse
from gateway.store import Store

FUTURE = (dt.date.today() + dt.timedelta(days=90)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()
MANUAL = dict(
    category="bolo",
    case_number="1",
    reason="r",
    requested_by="m",
    contact="c",
    instructions="i",
    expires=FUTURE,
)
HEADER = "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"


def manual_args(**extra: str) -> list[str]:
    """`hotlist add` options for MANUAL (the requester is the logged-in user), plus `extra`."""
    fields = {k: v for k, v in MANUAL.items() if k != "requested_by"}
    fields.update(request_ref="memo 26-14", **extra)
    return [f"--{k.replace('_', '-')}={v}" for k, v in fields.items()]


def row(plate: str, expires: str = FUTURE, category: str = "stolen-vehicle") -> str:
    return f"{plate},IL,{category},24-0001,stolen from lot,Det. Ray #12,dispatch 555-0100,verify via NCIC,{expires}\n"


def test_entry_needs_every_field_and_an_expiry() -> None:
    fields = {**MANUAL, "plate": "ABC123"}
    assert make_entry(fields, "local").plate == "ABC123"
    for key in ("case_number", "reason", "requested_by", "contact", "instructions"):
        with pytest.raises(hotlist.EntryError, match=f"{key}: missing"):
            make_entry({**fields, key: " "}, "local")
    with pytest.raises(hotlist.EntryError, match="expires: missing"):
        make_entry({**fields, "expires": ""}, "local")
    with pytest.raises(hotlist.EntryError, match="category"):
        make_entry({**fields, "category": "speeding"}, "local")
    with pytest.raises(hotlist.EntryError, match="at least 2 known"):
        make_entry({**fields, "plate": "*?"}, "local")


def test_csv_import_reports_bad_lines_and_keeps_good_ones() -> None:
    text = HEADER + row("ABC123") + row("AB$123") + row("XYZ789", expires="someday") + row("AB?12*")
    entries, errors = parse(text, "state", "csv")
    assert [e.plate for e in entries] == ["ABC123", "AB?12*"]
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [(3, "plate"), (4, "expires")]


def test_ncic_format() -> None:
    text = (
        "# extract 2026-11-22\n"
        "0001|V|7ABC123|CA|24-1|STOLEN VEH|CA0190000 DET DIAZ|DISPATCH|CONFIRM FIRST|20261231\n"
        "0002|ZZ|7ABC124|CA|24-2|X|Y|Z|W|20261231\n"
        "0003|LP|7ABC125|CA|24-3|X|Y\n"
    )
    entries, errors = parse(text, "ncic", "ncic")
    assert len(entries) == 1 and entries[0].category == "stolen-vehicle"
    assert entries[0].expires == dt.date(2026, 12, 31)
    assert [e.line for e in errors] == [3, 4]
    assert "unknown NCIC code" in errors[0].reason and "10 '|'-separated" in errors[1].reason


def test_import_replaces_source_atomically(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    cfg = write_config(tmp_path)
    team = make_team(cfg)
    good = tmp_path / "list.csv"
    good.write_text(HEADER + row("AAA111") + row("BBB222"))
    out = team.run(
        "hotlist", "import", str(good), "--source", "state", "--config", str(cfg), user="mgr"
    )
    assert out.returncode == 0, out.stderr
    store = Store(tmp_path / "data")
    assert {r["plate"] for r in store.hotlist_rows()} == {"AAA111", "BBB222"}
    # an import that fails midway (a constraint violation inside the transaction) changes nothing
    broken = [
        make_entry({**MANUAL, "plate": "CCC333"}, "state"),
        None,
    ]
    with pytest.raises(AttributeError):
        store.replace_hotlist("state", broken)
    assert {r["plate"] for r in store.hotlist_rows()} == {"AAA111", "BBB222"}
    # an unreadable file leaves the previous list
    missing = str(tmp_path / "missing.csv")
    out = team.run(
        "hotlist", "import", missing, "--source", "state", "--config", str(cfg), user="mgr"
    )
    assert out.returncode == 2 and "previous list stays active" in out.stderr
    assert {r["plate"] for r in store.hotlist_rows()} == {"AAA111", "BBB222"}
    # bad lines are named with their number; good ones replace the source (1 of 21 is under 5 %)
    plates = [f"DDD{i:03d}" for i in range(20)]
    good.write_text(HEADER + row(plates[0]) + row("bad plate!") + "".join(map(row, plates[1:])))
    out = team.run(
        "hotlist", "import", str(good), "--source", "state", "--config", str(cfg), user="mgr"
    )
    assert out.returncode == 1 and "line 3: plate" in out.stderr
    assert {r["plate"] for r in store.hotlist_rows()} == set(plates)


def test_expired_entries_never_match_and_are_listed(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    today = dt.date.today()
    m = Matcher([(1, "ABC123", today - dt.timedelta(days=1)), (2, "XYZ789", today)])
    assert m.match("ABC123") == []
    assert [x.entry_id for x in m.match("XYZ789")] == [2]
    cfg = write_config(tmp_path)
    f = tmp_path / "l.csv"
    f.write_text(HEADER + row("OLD111", expires=PAST) + row("NEW222"))
    team = make_team(cfg)
    imported = team.run(
        "hotlist", "import", str(f), "--source", "local", "--config", str(cfg), user="mgr"
    )
    assert imported.returncode == 0, imported.stderr
    listed = team.run("hotlist", "list", "--expired", "--json", "--config", str(cfg), user="ofc")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert "OLD111" in out and "NEW222" not in out


def test_match_kinds() -> None:
    exp = dt.date.today() + dt.timedelta(days=5)
    m = Matcher([(1, "ABC123", exp), (2, "8OB5", exp), (3, "ZZ?9*", exp)], max_substitutions=1)
    assert [(x.entry_id, x.kind) for x in m.match("ABC123")] == [(1, "exact")]
    assert [(x.entry_id, x.kind) for x in m.match("A8C123")] == [(1, "confusion")]
    assert m.match("A8C12Z") == []  # two substitutions
    assert [(x.entry_id, x.kind) for x in m.match("XXXX", ["ABC123"])] == [(1, "alternate")]
    assert [(x.entry_id, x.kind) for x in m.match("ZZA9")] == [(3, "wildcard")]
    assert [(x.entry_id, x.kind) for x in m.match("ZZA9QQ")] == [(3, "wildcard")]


def test_lint_flags_confusable_pairs() -> None:
    pairs = hotlist.confusable_pairs([(1, "ABC123"), (2, "A8C123"), (3, "XYZ789"), (4, "AB?123")])
    assert pairs == [(1, "ABC123", 2, "A8C123")]


# -- property tests against brute force ------------------------------------------------------

CHARS = "ABCDOQ01IL258SZBG6T7"
plates = st.text(alphabet=CHARS, min_size=2, max_size=7)
patterns = st.text(alphabet=CHARS + "?*", min_size=2, max_size=7).filter(
    lambda p: sum(c.isalnum() for c in p) >= 2
)
SAME = {c: group for group in CONFUSION_CLASSES for c in group}


def brute_confusion(plate: str, text: str, k: int) -> bool:
    if len(plate) != len(text):
        return False
    subs = 0
    for a, b in zip(plate, text, strict=True):
        if a != b:
            if b not in SAME.get(a, a):
                return False
            subs += 1
    return subs <= k


@settings(max_examples=400, deadline=None)
@given(entries=st.lists(plates, min_size=1, max_size=20), text=plates, k=st.integers(0, 2))
def test_confusion_matching_equals_brute_force(entries: list[str], text: str, k: int) -> None:
    exp = dt.date.today()
    m = Matcher([(i, p, exp) for i, p in enumerate(entries)], max_substitutions=k)
    got = {x.entry_id for x in m.match(text)}
    want = {i for i, p in enumerate(entries) if brute_confusion(p, text, k)}
    assert got == want


@settings(max_examples=400, deadline=None)
@given(entries=st.lists(patterns, min_size=1, max_size=20), text=plates)
def test_wildcard_matching_equals_brute_force(entries: list[str], text: str) -> None:
    exp = dt.date.today()
    m = Matcher([(i, p, exp) for i, p in enumerate(entries)], max_substitutions=0)
    got = {x.entry_id for x in m.match(text)}
    want = {
        i
        for i, p in enumerate(entries)
        if (("?" in p or "*" in p) and fnmatch.fnmatchcase(text, p.replace("[", "[[]")))
        or ("?" not in p and "*" not in p and p == text)
    }
    assert got == want


def test_canonical_folds_each_class() -> None:
    for group in CONFUSION_CLASSES:
        assert len({canonical(c) for c in group}) == 1


# -- files refused whole ------------------------------------------------------------------------


def test_refused_files_leave_the_previous_list(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    cfg = write_config(
        tmp_path,
        extra='[[hotlists]]\nsource = "lenient"\npath = "l.csv"\nmax_bad_share = 0.5\n',
    )
    team = make_team(cfg)
    store = Store(tmp_path / "data")

    def alpr(*args: str) -> subprocess.CompletedProcess[str]:
        code, out, err = team.cli(*args, user="mgr")
        return subprocess.CompletedProcess(args, code, out, err)

    f = tmp_path / "list.csv"
    plates = [f"AAA{i:03d}" for i in range(28)]
    f.write_text(HEADER + "".join(map(row, plates)))
    assert (
        alpr("hotlist", "import", str(f), "--source", "state", "--config", str(cfg)).returncode == 0
    )
    before = {r["plate"] for r in store.hotlist_rows()}
    assert before == set(plates)
    refused = [
        ("plate;state;category\n" + row("BBB111"), "bad header (header lacks"),
        (HEADER + row("bad plate!") + row("CCC222", expires="soon"), "no valid line (2 bad of 2)"),
        (HEADER, "no valid line (0 bad of 0)"),
        # 12 of 40 lines bad: 30 %, over the 5 % default
        (
            HEADER + "".join(map(row, plates)) + row("bad plate!") * 12,
            "12 of 40 lines bad (30 % > 5 %)",
        ),
    ]
    for text, why in refused:
        f.write_text(text)
        out = alpr("hotlist", "import", str(f), "--source", "state", "--config", str(cfg))
        assert out.returncode == 2, why
        assert f"refused {f}: {why}" in out.stderr, out.stderr
        assert "the previous list (28 entries) stays active" in out.stderr, why
        assert {r["plate"] for r in store.hotlist_rows()} == before, why
    # the share is per source: the configured one allows half the lines bad
    out = alpr("hotlist", "import", str(f), "--source", "lenient", "--config", str(cfg))
    assert out.returncode == 1 and "28 entries imported, 12 lines rejected" in out.stdout


def test_gateway_start_refuses_a_bad_file_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.config import load
    from gateway.service import load_configured_hotlists

    f = tmp_path / "ncic.csv"
    f.write_text(HEADER + row("KEEP01") + row("KEEP02"))
    config = load(
        write_config(tmp_path, extra='[[hotlists]]\nsource = "ncic"\npath = "ncic.csv"\n')
    )
    store = Store(config.data_dir)
    load_configured_hotlists(store, config)
    assert {r["plate"] for r in store.hotlist_rows()} == {"KEEP01", "KEEP02"}
    f.write_text("plate\n")  # a truncated export: only a header, and a bad one
    with caplog.at_level("ERROR"):
        load_configured_hotlists(store, config)
    assert {r["plate"] for r in store.hotlist_rows()} == {"KEEP01", "KEEP02"}
    lines = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(lines) == 1 and f"refused {f}: bad header" in lines[0]
    assert "the previous list (2 entries) stays active" in lines[0]


# -- cancelling entries -------------------------------------------------------------------------


def test_remove_cancels_for_good_and_keeps_history(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    from gateway.pipeline import MatcherCache

    cfg = str(write_config(tmp_path))
    team = make_team(Path(cfg))
    team.add("sgt.ortiz", "manager")
    store = Store(tmp_path / "data")

    def hot(*args: str, user: str = "mgr") -> tuple[int, str, str]:
        return team.cli("hotlist", *args, "--config", cfg, user=user)

    f = tmp_path / "list.csv"
    f.write_text(HEADER + row("IMP001") + row("IMP002"))
    assert hot("import", str(f), "--source", "state")[0] == 0
    code, _, err = hot("add", "MAN003", *manual_args(), user="sgt.ortiz")
    assert code == 0, err
    ids = {r["plate"]: r["id"] for r in store.hotlist_rows()}
    matchers = MatcherCache(store, 1)
    assert matchers.get().match("MAN003") == []  # requested: not yet approved
    assert hot("approve", str(ids["MAN003"]))[0] == 0
    assert [m.entry_id for m in matchers.get().match("MAN003")] == [ids["MAN003"]]

    # the reason is required
    assert hot("remove", str(ids["MAN003"]))[0] == 2
    for plate in ("MAN003", "IMP001"):
        code, out, _ = hot("remove", str(ids[plate]), "--reason", "recovered")
        assert code == 0 and f"cancelled entry {ids[plate]}: {plate}" in out
        assert matchers.get().match(plate) == []
    code, _, err = hot("remove", str(ids["MAN003"]), "--reason", "x")
    assert code == 2 and "already cancelled" in err
    assert hot("remove", "999", "--reason", "x")[0] == 2

    # a re-import of the same file does not bring the cancelled entry back
    assert hot("import", str(f), "--source", "state")[0] == 0
    assert matchers.get().match("IMP001") == [] and matchers.get().match("IMP002")
    assert {r["plate"] for r in store.hotlist_rows(cancelled=True)} == {"MAN003", "IMP001"}
    listed = hot("list", "--json", user="ofc")[1]
    assert "IMP002" in listed and "IMP001" not in listed and "MAN003" not in listed

    code, out, _ = hot("history", str(ids["MAN003"]), "--json", user="inv")
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["action"], e["user"], e["reason"]) for e in events] == [
        ("requested", "sgt.ortiz", "r"),
        ("approved", "mgr", "approved"),
        ("cancelled", "mgr", "recovered"),
    ]
    assert events[2]["entry"]["plate"] == "MAN003"
    out = hot("history", str(ids["IMP001"]), user="ofc")[1]
    assert "imported" in out and "cancelled  mgr" in out

    # each change and each look is in the audit log under the logged-in name, never the plate
    records = team.records(kinds=("change", "view"))
    assert [(r["user"], r["action"], r["result_count"]) for r in records] == [
        ("mgr", "hotlist approve-source", 0),
        ("mgr", "hotlist import", 2),
        ("sgt.ortiz", "hotlist request", 1),
        ("mgr", "hotlist approve", 1),
        ("mgr", "hotlist cancel", 1),
        ("mgr", "hotlist cancel", 1),
        ("mgr", "hotlist import", 1),
        ("ofc", "hotlist list", 1),
        ("inv", "hotlist history", 3),
        ("ofc", "hotlist history", 2),
    ]
    assert json.loads(records[2]["what"])["entry"] == ids["MAN003"]
    assert records[4]["why"] == "recovered"
    assert not any("MAN003" in r["what"] or "IMP00" in r["what"] for r in records)


def test_a_header_only_file_starts_a_new_source_but_never_empties_one() -> None:
    """`alpr init` writes a hot list with its header alone: a first start takes it without an
    error, while the same file can never empty a source that has entries."""
    from gateway.hotlist import refusal

    assert refusal("local.csv", 0, [], 0.05, previous=0) is None
    why = refusal("local.csv", 0, [], 0.05, previous=3)
    assert why is not None and "no valid line (0 bad of 0)" in why
