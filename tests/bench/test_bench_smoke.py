"""The benchmark's pure helpers: statistics, target checks, result schema, table, matching.

No timings are asserted here (timings belong to ``make bench``); these tests check that the
numbers the benchmark reports are computed and shaped correctly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import loop_lag, memory, report
from bench.__main__ import main
from bench.context import CONFIGS, Context, Row
from bench.scenes import match_detections
from bench.stats import check, percentile, ratio, skipped, summarise, targeted, unavailable


def test_percentile_interpolates_between_ranks() -> None:
    samples = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(samples, 50) == pytest.approx(5.5)
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 10.0
    # rank (10 - 1) * 0.99 = 8.91 -> 9 + 0.91 * (10 - 9)
    assert percentile(samples, 99) == pytest.approx(9.91)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_summarise_keys_and_values() -> None:
    s = summarise([3.0, 1.0, 2.0, float("nan")], unit="ms")
    assert s == {"median": 2.0, "p99": pytest.approx(2.98), "mean": 2.0, "min": 1.0,
                 "max": 3.0, "n": 3, "unit": "ms"}
    empty = summarise([])
    assert set(empty) == set(s)
    assert empty["n"] == 0
    assert empty["median"] is None


def test_ratio() -> None:
    assert ratio(30.0, 10.0) == 3.0
    assert ratio(None, 10.0) is None
    assert ratio(1.0, 0.0) is None


def test_check_and_targeted_semantics() -> None:
    ok = check("p99", 0.8, "<=", 1.0, "ms")
    bad = check("recall", 0.95, ">=", 0.99)
    missing = check("speedup", None, ">=", 50.0)
    assert ok["met"] is True
    assert bad["met"] is False
    assert missing["met"] is None
    assert targeted("all fine", [ok])["met"] is True
    assert targeted("one failed", [ok, bad, missing])["met"] is False
    # nothing failed but something was not measured: neither met nor failed
    assert targeted("incomplete", [ok, missing])["met"] is None
    combined = targeted("t", [ok, bad])
    assert combined["target"] == "t"
    assert [c["name"] for c in combined["checks"]] == ["p99", "recall"]


def test_unavailable_and_skipped_carry_a_reason() -> None:
    assert unavailable("no server", extra=1) == {"status": "unavailable", "reason": "no server",
                                                 "extra": 1}
    assert skipped("quick")["status"] == "skipped"


def _ctx_with_server_run(lag_p99: float) -> Context:
    ctx = Context(CONFIGS["quick"], quiet=True)
    idle = summarise([0.2, 0.3, 0.4])
    load = summarise([1.0, 2.0, lag_p99])
    ctx.remember("server_idle", {"loop_lag_ms": idle, "rss_mb": 200.0})
    ctx.remember("server_loads", {
        "1_camera": {"cameras": 1, "loop_lag_ms": load, "rss_mb": summarise([210.0, 212.0])},
        "4_camera": {"cameras": 4, "loop_lag_ms": load, "rss_mb": summarise([220.0, 240.0])},
    })
    return ctx


def test_loop_lag_figure_has_target_and_met() -> None:
    fast = loop_lag.run(_ctx_with_server_run(5.0))
    slow = loop_lag.run(_ctx_with_server_run(500.0))
    for result in (fast, slow):
        assert result["status"] == "ok"
        assert isinstance(result["target"], str)
        assert {"idle", "loads", "ratio_p99_vs_idle", "checks"} <= set(result)
    assert fast["met"] is True
    assert slow["met"] is False


def test_figures_without_their_inputs_are_unavailable_not_invented() -> None:
    ctx = Context(CONFIGS["quick"], quiet=True)
    assert loop_lag.run(ctx)["status"] == "unavailable"
    assert memory.run(ctx)["status"] == "unavailable"


def test_memory_per_camera_from_peak_over_idle() -> None:
    result = memory.run(_ctx_with_server_run(5.0))
    assert result["server_rss_idle_mb"] == 200.0
    assert result["per_camera_stream"]["4_camera"]["per_camera_mb"] == 10.0
    assert result["per_camera_stream"]["1_camera"]["per_camera_mb"] == 12.0
    assert result["per_100k_templates"]["512d"]["status"] == "skipped"


def test_report_writes_json_and_markdown(tmp_path: Path) -> None:
    meta = {"mode": "quick", "started_at": "2026-01-01T00:00:00+00:00", "duration_s": 12.0}
    machine = {"cpu_model": "cpu", "cores": 2, "libraries": {"numpy": "2.0"}}
    rows = [Row("index", "512x100000", "query ms", 0.5, 0.9, baseline="20 / 30", ratio=33.3,
                target="p99 <= 1 ms", met=True),
            Row("fanout", "server", "unavailable", note="no server | yet")]
    table = report.markdown(meta, machine, rows)
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == 3  # header + 2 rows
    assert "| yes |" in lines[1]
    assert "no server / yet" in lines[2]  # a pipe in a note cannot break the table
    json_path, md_path = report.write(tmp_path, {"meta": meta, "index": {"met": True}}, table)
    assert json.loads(json_path.read_text())["index"]["met"] is True
    assert md_path.read_text() == table


def test_detection_matching_is_one_to_one() -> None:
    truth = [(0.0, 0.0, 100.0, 100.0), (200.0, 0.0, 300.0, 100.0)]
    found = [
        (10.0, 10.0, 90.0, 90.0),  # first face
        (12.0, 12.0, 88.0, 88.0),  # a duplicate of the first: a false detection
        (400.0, 0.0, 500.0, 100.0),  # nowhere near a face
        (210.0, 10.0, 230.0, 30.0),  # inside the second face but far too small
    ]
    assert match_detections(truth, found) == (1, 3)


def test_cli_refuses_unknown_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "nonsense", "--quiet"]) == 2
    assert "unknown figure" in capsys.readouterr().err


def test_every_mode_has_the_same_config_fields() -> None:
    fields = {name: set(vars(cfg)) for name, cfg in CONFIGS.items()}
    assert fields["quick"] == fields["default"] == fields["full"]
    assert CONFIGS["full"].index_max == 1_000_000


def test_collapsed_stack_summary(tmp_path: Path) -> None:
    from bench.profiling import summarise_collapsed

    path = tmp_path / "stacks.txt"
    path.write_text(
        "main (server/app.py:1);stage (server/store/outbox.py:68);"
        "_execute (aiosqlite/core.py:158) 30\n"
        "main (server/app.py:1);embed (server/recognition/dlib_engine.py:91) 10\n"
        "select (selectors.py:468) 60\n"
        "not a stack line\n"
    )
    summary = summarise_collapsed(path)
    assert summary["samples"] == 100
    assert summary["top_self"][0] == {"function": "select (selectors.py:468)", "samples": 60,
                                      "share": 0.6}
    inclusive = {row["function"]: row["samples"] for row in summary["top_project_inclusive"]}
    # only the project's own frames, counted once per stack
    assert inclusive == {"main (app.py:1)": 40, "stage (outbox.py:68)": 30,
                         "embed (dlib_engine.py:91)": 10}
    assert summarise_collapsed(tmp_path / "missing.txt")["samples"] == 0


@pytest.mark.parametrize(("cores", "workers"), [(2, 2), (4, 2), (8, 4), (1, 1)])
def test_session_configurations_start_with_the_servers_default(cores: int, workers: int,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from bench import onnx_sessions
    from server.recognition import onnx_engine

    monkeypatch.setattr(onnx_engine.os, "cpu_count", lambda: cores)
    configs = onnx_sessions.configurations(cores, workers)
    first = configs[0]
    assert (first.workers, first.tuning, first.runtime) == (workers, {}, "auto")
    assert first.threads == onnx_engine.default_threads(workers)
    assert first.workers * first.threads <= cores
    assert len({(c.workers, c.threads, str(c.tuning), c.runtime) for c in configs}) \
        == len(configs)
    assert [c.runtime for c in configs].count("onnxruntime") == 1
    for c in configs:
        assert ("oversubscribed" in c.name) == (c.workers * c.threads > cores)


def test_int8_is_skipped_in_quick_mode() -> None:
    from bench import int8

    assert int8.run(Context(CONFIGS["quick"], quiet=True))["status"] == "skipped"


def test_cpu_split_names_threads_and_shares_cores() -> None:
    from bench.cpu_split import own_threads, share, thread_kind

    assert thread_kind("MainThread") == "event_loop"
    assert thread_kind("vigil_1") == "worker_pool"
    assert thread_kind("asyncio_0") == "to_thread"
    assert thread_kind("Thread-3 (_connection_worker_thread)") == "sqlite"
    assert thread_kind("bench-officer") == "officer"
    assert thread_kind("Thread-9 (something)") == "other"
    mine = own_threads()
    assert mine["event_loop"] > 0.0
    assert all(v >= 0.0 for v in mine.values())
    before = {"server": {"event_loop": 1.0, "sqlite": 0.5}, "workers": 2.0,
              "clients": {"event_loop": 0.2}, "machine": 10.0}
    after = {"server": {"event_loop": 3.0, "sqlite": 1.5, "worker_pool": 1.0}, "workers": 8.0,
             "clients": {"event_loop": 1.2}, "machine": 25.0}
    cpu = share(before, after, 10.0, 2)
    assert cpu["server"] == {"event_loop": 0.2, "sqlite": 0.1, "worker_pool": 0.1, "total": 0.4}
    assert cpu["inference_processes"] == 0.6
    assert cpu["clients"] == {"event_loop": 0.1, "total": 0.1}
    assert cpu["other_processes"] == 0.4  # 1.5 cores busy, 1.1 of them ours
    assert cpu["idle"] == 0.5
