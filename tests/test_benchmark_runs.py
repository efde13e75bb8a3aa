"""The benchmark's own bookkeeping: choosing tools, saving and merging runs.

A report can be rebuilt from saved runs (``--from-json``), several at once
(more repeats of some measurements, run later): what ``save_raw`` writes,
``merge_raw`` reads back with every measurement kept and told apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.cases import IN_ONE, MESA_1, NB_BR_1, TOOLS, Variant, build_cases
from benchmarks.report import (
    Result,
    evaluate_targets,
    in_one_ratios,
    paired_ratios,
    results_section,
    summarise,
)
from benchmarks.run import merge_raw, save_raw, select_cases, select_tools


def _run(path: Path, command: str, repeats: int, wall: float) -> None:
    results = [
        Result(4, Variant(tool, 1), repeat, data={"wall": wall + repeat})
        for repeat in range(repeats)
        for tool in ("mesa", "nb-br")
    ]
    meta = {
        "command": command,
        "machine": {"mesa_nb": "0.1.0 (source sha256 abc)"},
        "repeats": repeats,
        "quick": False,
        "elapsed": 10.0,
    }
    save_raw(path, meta, results)


def test_merged_runs_keep_every_measurement_with_its_own_repeat(tmp_path) -> None:
    _run(tmp_path / "a.json", "python -m benchmarks.run", 3, 1.0)
    _run(tmp_path / "b.json", "python -m benchmarks.run --tools mesa:1,nb-br", 5, 9.0)
    meta, results = merge_raw([tmp_path / "a.json", tmp_path / "b.json"])
    assert len(results) == 16
    mesa = sorted(
        (r.repeat, r.data["wall"]) for r in results if r.variant.tool == "mesa"
    )
    assert [repeat for repeat, _ in mesa] == list(range(8))
    assert [wall for _, wall in mesa] == [1, 2, 3, 9, 10, 11, 12, 13]
    assert meta["repeats"] == "3 + 5 (2 runs)"
    assert meta["elapsed"] == 20.0
    assert "--tools mesa:1,nb-br" in meta["command"]
    assert meta["machine"]["mesa_nb"] == "0.1.0 (source sha256 abc)"


def test_one_saved_run_reads_back_as_written(tmp_path) -> None:
    _run(tmp_path / "a.json", "python -m benchmarks.run", 2, 1.0)
    meta, results = merge_raw([tmp_path / "a.json"])
    assert meta["repeats"] == 2 and meta["command"] == "python -m benchmarks.run"
    assert [(r.variant, r.repeat) for r in results] == [
        (Variant("mesa", 1), 0),
        (Variant("nb-br", 1), 0),
        (Variant("mesa", 1), 1),
        (Variant("nb-br", 1), 1),
    ]


def test_tools_choose_variants_and_drop_emptied_sweeps() -> None:
    cases = select_cases(build_cases(), "1,7,8")
    chosen = select_tools(cases, "mesa:1,nb-br")
    assert [c.number for c in chosen] == [1, 8]  # sweep 7 has neither
    assert {v for c in chosen for v in c.variants} == {
        Variant("mesa", 1),
        Variant("nb-br", 1),
    }
    both = select_tools(select_cases(build_cases(), "1"), "mesa")
    assert {v.processes for v in both[0].variants} == {1, 2}
    assert select_tools(cases, None) == cases
    assert set(TOOLS) >= {v.tool for c in build_cases() for v in c.variants}


@pytest.mark.parametrize("bad", ["foo", "mesa:x"])
def test_an_unknown_tool_is_refused_naming_the_tools(bad: str) -> None:
    with pytest.raises(SystemExit, match="tools: plain, mesa"):
        select_tools(build_cases(), bad)


def _data(wall: float, **extra: float) -> dict:
    """A measurement's data as benchmarks.measure writes it."""
    facts = ("tables_bytes", "list_bytes", "run_time_sum", "first_record")
    return {"wall": wall, "extra": extra, "runs": 1, "steps": 1} | dict.fromkeys(facts)


def test_drop_in_ratios_pair_the_calls_of_each_repeat() -> None:
    walls = {("mesa", 0): 10.0, ("nb-br", 0): 9.0, ("mesa", 1): 20.0}
    walls |= {("nb-br", 1): 21.0, ("nb-br", 2): 5.0}  # repeat 2: no Mesa call
    results = [
        Result(1, Variant(tool, 1), repeat, data=_data(wall))
        for (tool, repeat), wall in walls.items()
    ]
    results += [
        Result(1, IN_ONE, repeat, data=_data(1.0, ratio=value))
        for repeat, value in ((1, 1.25), (0, 0.75))
    ]
    results.append(Result(2, Variant("mesa", 1), 0, data=_data(1.0)))
    assert paired_ratios(results, 1, NB_BR_1, MESA_1) == [0.9, 1.05]
    assert in_one_ratios(results, 1) == [0.75, 1.25]
    assert paired_ratios(results, 2, NB_BR_1, MESA_1) == []
    lines = results_section(select_cases(build_cases(), "1"), {}, results)
    assert "fresh processes, repeat by repeat: 0.900, 1.050 (median 0.975)" in (
        "\n".join(lines)
    )
    summaries = summarise(results)
    shown = "\n".join(results_section(build_cases()[:1], summaries, results))
    # the medians take repeat 2 too (nb-br 5 s): 9 / 15
    assert "(median 0.975; ratio of the medians 0.600)" in shown
    assert "in one process, repeat by repeat: 0.750, 1.250 (median 1.000)" in (
        "\n".join(lines)
    )
    targets = {
        t.name.split(":")[0]: t.value
        for t in evaluate_targets(summaries, results)
        if t.sweep == 1 and t.name.startswith("drop-in")
    }
    assert targets == {
        "drop-in, fresh processes": pytest.approx(0.975),
        "drop-in, in one process": 1.0,
    }
