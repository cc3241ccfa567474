"""Pure pieces of the console: formatting, the Braille canvas and projection, text panels."""

from __future__ import annotations

import pytest

from shared.protocol.alerts import DeploymentStats
from tests.tui.tui_fakes import T0, alert, snapshot
from tui.connection import ConnectionStatus
from tui.dispatch import format as fmt
from tui.dispatch.screens.detail import similarity_bar
from tui.dispatch.state import DispatchState
from tui.dispatch.widgets.braille import BrailleCanvas, fit, ring_points
from tui.dispatch.widgets.stats_panel import stats_text
from tui.dispatch.widgets.status_bar import status_text


def test_ages_distances_and_rates() -> None:
    assert [fmt.age(s) for s in (None, -3, 5, 125, 7300, 200000)] == [
        "-", "0s", "5s", "2m", "2h", "2d"
    ]
    assert [fmt.distance(m) for m in (None, 85.4, 1449)] == ["-", "85 m", "1.4 km"]
    stats = DeploymentStats(deployment_id="d", faces_processed=12120, confirmed=7,
                            dismissed=2, not_the_person=1, adjudicated=10,
                            false_alerts=3, false_alert_rate=3 / 12120, precision=0.7)
    assert fmt.false_alert_rate(stats) == "1 in 4,040 faces (0.025%)"
    assert fmt.precision(stats) == "70% (7 of 10)"
    assert fmt.false_alert_rate(DeploymentStats(deployment_id="d")) == "-"
    assert fmt.similarity(0.714, 0.6) == "0.71 / 0.60"


def test_braille_dots_map_to_the_right_bits() -> None:
    canvas = BrailleCanvas(2, 1)
    canvas.set(0, 0)  # top-left dot of the first cell
    canvas.set(3, 3)  # bottom-right dot of the second cell
    canvas.set(99, 99)  # outside: ignored
    assert canvas.lines() == ["\u2801\u2880"]


def test_projection_keeps_everything_in_view_with_square_dots() -> None:
    centre = (51.5308, -0.1238)
    points = [centre, *ring_points(*centre, 500.0)]
    proj = fit(points, 60, 40)
    assert proj is not None
    for lat, lon in points:
        x, y = proj.to_dots(lat, lon)
        assert 0 <= x <= 60
        assert 0 <= y <= 40
    # 500 m north and 500 m east are the same number of dots from the centre.
    cx, cy = proj.to_dots(*centre)
    _, ny = proj.to_dots(*points[1])
    ex, _ = proj.to_dots(*points[3])
    assert abs(cy - ny) == pytest.approx(abs(ex - cx), rel=0.02)
    assert fit([], 10, 10) is None


def test_similarity_bar_marks_the_threshold() -> None:
    bar = similarity_bar(0.75, 0.6, width=20).plain
    assert bar.index("┃") == 12
    assert bar.count("█") == 14  # 15 filled cells, one of them under the threshold mark


def test_status_line_shows_countdown_and_offline_reason() -> None:
    state = DispatchState(clock=lambda: T0)
    state.apply(snapshot())
    waiting = status_text(ConnectionStatus(state="reconnecting", retry_in=2.2, attempt=2,
                                           reason="lost: connection dropped"), state, "D", True)
    assert "reconnecting in 3s" in waiting.plain
    assert "Op Lantern" in waiting.plain
    offline = status_text(ConnectionStatus(state="offline", reason="unauthorised"), state,
                          "D", False)
    assert "offline (unauthorised)" in offline.plain
    assert "bell off" in offline.plain


@pytest.mark.parametrize("width", [24, 60])
def test_stats_text_always_shows_both_rates(width: int) -> None:
    state = DispatchState(clock=lambda: T0)
    state.apply(snapshot((alert(1),)))
    text = stats_text(state, "dep-1", width).plain
    assert "1 in 4,040 faces" in text
    assert "64% (7 of 11)" in text
    assert max(len(line) for line in text.splitlines()) <= max(width, 40)


def test_an_incident_row_says_an_officer_is_on_it_when_a_new_sighting_leads() -> None:
    from tests.tui.tui_fakes import T0, alert, snapshot
    from tui.dispatch.state import DispatchState, Incident
    from tui.dispatch.widgets.alert_queue import officer_cell, state_cell

    state = DispatchState(clock=lambda: T0)
    state.apply(snapshot())
    accepted = alert(1, state="accepted", assigned_call_sign="Alpha-1")
    again = alert(2, incident_id="al-1")
    incident = Incident("al-1", (again, accepted))
    assert state_cell(state, incident, T0).plain == "new+accepted"
    assert officer_cell(incident) == "Alpha-1"
    alone = Incident("al-2", (again,))
    assert state_cell(state, alone, T0).plain == "new"
    assert officer_cell(alone) == "-"


@pytest.mark.parametrize("width", [24, 38, 60, 200])
def test_the_map_legend_wraps_whole_never_cut(width: int) -> None:
    from tui.dispatch.widgets.map_pane import legend_lines

    lines = [line.plain for line in legend_lines(width, 500.0, 25.0)]
    assert all(len(line) <= width for line in lines)
    joined = "  ".join(lines)
    for item in ("◉ alert", "◆ camera", "A officer", "○ 500 m notify radius", "col≈25 m"):
        assert item in joined
    assert len(lines) == {24: 4, 38: 2, 60: 2, 200: 1}[width]
    # Laid out for the widest scale, the legend never needs more lines than it reserved.
    assert len(legend_lines(width, 500.0, None)) >= len(lines)


def test_times_are_local_with_the_date_when_not_today() -> None:
    # The tests' zone is UTC (conftest); T0 is 2026-09-21 14:13:20 UTC.
    assert fmt.when(T0 + 60, T0 + 600) == "14:14:20"
    assert fmt.when(T0 - 86400, T0) == "20 Sep 14:13"
    assert fmt.when(T0 - 15 * 3600, T0) == "20 Sep 23:13"


def test_the_timeline_shows_what_people_did_on_the_incidents_other_alerts() -> None:
    from shared.protocol.alerts import AlertEvent
    from tui.dispatch.screens.detail import timeline

    state = DispatchState(clock=lambda: T0 + 600)
    first = alert(1, state="accepted", assigned_officer_id="of-1", assigned_call_sign="Alpha-1",
                  events=(
                      AlertEvent(at=T0 + 60, actor="system", action="raised"),
                      AlertEvent(at=T0 + 70, actor="system", action="sighted"),
                      AlertEvent(at=T0 + 80, actor="acc-dee", action="assigned",
                                 actor_name="Dispatcher Dee", detail="officer=of-1"),
                      AlertEvent(at=T0 + 90, actor="acc-dee", action="note",
                                 actor_name="Dispatcher Dee", detail="blue jacket"),
                  ))
    again = alert(2, camera="cam-2", entry_id="en-1", incident_id="al-1")
    state.apply(snapshot((first, again)))
    lines = timeline(again, state).plain.splitlines()
    assert lines == [
        "14:14:20 raised      system  · Gate A alert",
        "14:14:40 assigned    Dispatcher Dee: Alpha-1  · Gate A alert",
        "14:14:50 note        Dispatcher Dee: blue jacket  · Gate A alert",
        "14:15:20 raised      system",
    ]
