"""``gridmap bench``: the summary it writes into BENCHMARKS.md, and a quick run of three benchmarks end to end
(real PostGIS, and pgRouting where installed; every benchmark checks its answers against its peer)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from layers.db import drop_database
from layers.settings import DatabaseSettings
from scripts.bench.common import databases
from scripts.commands.bench import BEGIN, END, QUICK_BEGIN, QUICK_END, summary_table, write_summary

ROOT = Path(__file__).resolve().parents[2]

RESULTS = [
    {"benchmark": "locate", "rows": [{"target": "bulk ≥ 10× sjoin", "ours": 9_951_324.0, "peer": 933_130.0,
                                      "peer_name": "geopandas.sjoin", "ratio": 10.66, "unit": "points/s",
                                      "agreement": "97715/97715", "notes": "best of 5"}]},
    {"benchmark": "maps", "error": "exit 1"},
]
INFO = {"processor": "test CPU", "cores": 2, "memory_gb": 24.0, "python": "3.11.7"}


def test_summary_table_has_a_row_per_target_and_says_what_failed():
    table = summary_table(RESULTS, quick=True, info=INFO)
    lines = table.splitlines()
    assert lines[0] == QUICK_BEGIN and lines[-1] == QUICK_END
    assert "`gridmap bench --quick`" in lines[1] and "test CPU (2 cores, 24.0 GB)" in lines[1]
    row = next(ln for ln in lines if ln.startswith("| locate"))
    assert "9,951,324 points/s" in row and "933,130 points/s" in row and "10.7×" in row and "97715/97715" in row
    assert any(ln.startswith("| maps") and "**failed**: exit 1" in ln for ln in lines)


def test_write_summary_replaces_only_the_marked_part(tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# Benchmarks\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## How to reproduce\nkeep me\n",
                  encoding="utf-8")
    write_summary(md, summary_table(RESULTS, quick=False, info=INFO))
    text = md.read_text(encoding="utf-8")
    assert "old table" not in text and "| locate |" in text
    assert text.startswith("# Benchmarks\n\nintro\n") and text.endswith("## How to reproduce\nkeep me\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    # a file without markers gets a summary section after its title
    bare = tmp_path / "bare.md"
    bare.write_text("# Benchmarks\nbody\n", encoding="utf-8")
    write_summary(bare, summary_table(RESULTS, quick=False, info=INFO))
    assert bare.read_text(encoding="utf-8").startswith(f"# Benchmarks\n\n## Summary\n\n{BEGIN}")


def test_quick_run_keeps_its_own_table_and_leaves_the_full_one(tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    write_summary(md, summary_table(RESULTS, quick=False, info=INFO))
    full = md.read_text(encoding="utf-8")
    write_summary(md, summary_table(RESULTS[:1], quick=True, info=INFO))
    text = md.read_text(encoding="utf-8")
    assert text.startswith(full.rstrip("\n"))  # the full run's summary is untouched, the quick table follows
    assert text.index(END) < text.index(QUICK_BEGIN) and "## Latest quick run" in text
    write_summary(md, summary_table(RESULTS, quick=True, info=INFO))  # a second quick run replaces the first
    again = md.read_text(encoding="utf-8")
    assert again.count(QUICK_BEGIN) == 1 and "**failed**: exit 1" in again.split(QUICK_BEGIN)[1]


@pytest.fixture()
def kept_by_this_test():
    """The kept databases the run builds (pgRouting edges, the migrated schema) are dropped afterwards unless
    they were there before (a developer's, reused by the run); the run's own throwaway copies must be gone."""
    before = set(databases("^gridmap_bench_"))
    yield
    made = set(databases("^gridmap_bench_")) - before
    kept = {n for n in made if re.fullmatch(r"gridmap_bench_[a-z]+_[0-9a-f]{12}", n)}
    for name in kept:
        drop_database(DatabaseSettings().with_database(name).sqlalchemy_url)
    assert made == kept, made - kept


def test_quick_bench_of_three_benchmarks_end_to_end(tmp_path, kept_by_this_test):
    out = tmp_path / "results.json"
    before = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "scripts.cli", "bench", "--quick", "--only", "validation",
                          "proposals", "isochrones", "--no-write", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8") == before  # --no-write
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["quick"] is True and res["machine"]["cores"] >= 1
    by_name = {r["benchmark"]: r for r in res["results"]}
    assert set(by_name) == {"validation", "proposals", "isochrones"}
    for name, r in by_name.items():
        assert "error" not in r, (name, r)
        assert r["rows"] and r["seconds"] > 0
        for row in r["rows"]:
            assert row["ours"] is not None, (name, row)
            assert row.get("agreement") not in (False, None), (name, row)
    validation = by_name["validation"]["rows"][0]
    assert validation["ratio"] > 0 and validation["agreement"].startswith("same overlaps")
    cut = next(r for r in by_name["proposals"]["rows"] if r["target"].endswith("buildings cut (must be 0)"))
    assert cut["ours"] == 0
    assert "| validation |" in run.stdout  # the table is printed


def _fake_benchmark(rows: list[dict], code: int):
    """A benchmark's ``main``: writes ``rows`` to its --json file and returns ``code``."""
    def main(argv):
        out = argv[argv.index("--json") + 1]
        Path(out).write_text(json.dumps({"benchmark": "validation", "rows": rows}), encoding="utf-8")
        return code
    return main


AGREEING = {"target": "t", "ours": 1.0, "peer": 2.0, "peer_name": "p", "ratio": 2.0, "unit": "s",
            "agreement": "same 3/3", "agrees": True}


@pytest.mark.parametrize("rows, code, exit_code", [
    ([AGREEING], 0, 0),
    ([AGREEING, {**AGREEING, "target": "u", "agreement": "2/3", "agrees": False}], 0, 1),  # a row disagrees
    ([AGREEING], 1, 1),  # the benchmark's own checks failed: exit 1, rows kept
    ([AGREEING, {"target": "v", "ours": 1.0, "agreement": False}], 0, 1),  # a row's check is a bare False
    ([AGREEING, {"target": "w", "ours": 1.0, "agreement": True}, {"target": "x", "ours": 1.0, "agreement": "–"}], 0,
     0),  # a row without a check does not fail the run
])
def test_bench_exits_non_zero_when_answers_disagree(monkeypatch, tmp_path, capsys, rows, code, exit_code):
    import scripts.bench.validation as validation
    from scripts.cli import main

    monkeypatch.setattr(validation, "main", _fake_benchmark(rows, code))
    out = tmp_path / "results.json"
    assert main(["bench", "--quick", "--only", "validation", "--no-write", "--out", str(out)]) == exit_code
    res = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert [r["target"] for r in res["rows"]] == [r["target"] for r in rows]  # rows are kept either way
    printed = capsys.readouterr()
    if exit_code:
        assert "未通过 (failed)" in printed.err
        assert "**NO**" in printed.out or "**failed**" in printed.out
    assert len(res["load_average"]) == 2


def test_full_run_table_is_quoted_in_the_readme_between_its_markers(tmp_path):
    from scripts.commands.bench import BEGIN, END, quote_in_readme, summary_table

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n", encoding="utf-8")
    table = summary_table([{"benchmark": "http_load", "rows": [{**AGREEING, "target": "GET req/s"}]}], quick=False,
                          info={"processor": "p", "cores": 2, "memory_gb": 1.0, "python": "3"})
    assert quote_in_readme(readme, table)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and "| http_load | GET req/s |" in text
    assert text.startswith("# x\n\nbefore\n") and text.endswith("after\n") and text.count(BEGIN) == 1
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n", encoding="utf-8")
    assert not quote_in_readme(plain, table) and plain.read_text(encoding="utf-8") == "# no markers\n"
