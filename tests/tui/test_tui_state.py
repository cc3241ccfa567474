"""The dispatcher state applies message sequences, replays and out-of-order updates."""

from __future__ import annotations

import msgspec
import pytest

from shared.protocol.alerts import DeploymentStats, OfficerView
from shared.protocol.dispatch import OfficerUpdated, StatsUpdated
from shared.protocol.officer import AlertRaised, AlertUpdated, AlertWithdrawn
from tests.tui.tui_fakes import T0, alert, officers, snapshot
from tui.dispatch.state import DispatchState, QueueFilter, queue_rank, with_rates


def fresh() -> DispatchState:
    state = DispatchState(clock=lambda: T0)
    state.apply(snapshot())
    return state


def test_snapshot_sets_the_picture_and_the_clock() -> None:
    state = DispatchState(clock=lambda: T0)
    change = state.apply(snapshot((alert(1), alert(2, state="assigned")), last_seq=4))
    assert change.kind == "reset"
    assert set(state.alerts) == {"al-1", "al-2"}
    assert state.unseen == {"al-1"}  # only new alerts are highlighted
    assert state.now() == pytest.approx(T0 + 600)
    assert [d.name for d in state.active_deployments()] == ["Op Lantern"]


def test_duplicates_after_resume_change_nothing() -> None:
    state = fresh()
    raised = AlertRaised(seq=1, alert=alert(1))
    updated = AlertUpdated(seq=2, alert=alert(1, version=2, sightings=2))
    assert [c.kind for c in state.apply_all([raised, updated])] == [
        "alert_raised", "alert_updated"
    ]
    # The same two again, as a replay after a reconnect would deliver them.
    assert [c.kind for c in state.apply_all([raised, updated])] == ["none", "none"]
    assert state.alerts["al-1"].version == 2
    assert state.alerts["al-1"].sightings == 2
    assert len(state.queue()) == 1


def test_out_of_order_updates_keep_the_highest_version() -> None:
    state = fresh()
    state.apply(AlertRaised(seq=1, alert=alert(1)))
    state.apply(AlertUpdated(seq=3, alert=alert(1, version=3, state="assigned",
                                                 assigned_call_sign="Alpha-1")))
    assert state.apply(AlertUpdated(seq=2, alert=alert(1, version=2, sightings=5))).kind == "none"
    held = state.alerts["al-1"]
    assert held.state == "assigned"
    assert held.assigned_call_sign == "Alpha-1"
    assert held.sightings == 1


def test_update_before_raise_and_late_raise() -> None:
    state = fresh()
    # An update can overtake its raise (e.g. the raise went to a console that restarted).
    assert state.apply(AlertUpdated(seq=1, alert=alert(1, version=2))).kind == "alert_updated"
    assert state.apply(AlertRaised(seq=2, alert=alert(1, version=1))).kind == "none"
    assert state.alerts["al-1"].version == 2


def test_withdrawn_alert_never_comes_back_from_a_late_message() -> None:
    state = fresh()
    state.apply(AlertRaised(seq=1, alert=alert(1)))
    assert state.apply(AlertWithdrawn(seq=2, alert_id="al-1", reason="purged")).kind == (
        "alert_withdrawn"
    )
    assert state.apply(AlertUpdated(seq=3, alert=alert(1, version=5))).kind == "none"
    assert "al-1" not in state.alerts
    assert "al-1" not in state.unseen
    assert state.apply(AlertWithdrawn(seq=4, alert_id="al-9", reason="x")).kind == "none"


def test_queue_order_new_first_then_unaccepted_assignments() -> None:
    state = fresh()
    state.apply_all([
        AlertRaised(seq=1, alert=alert(1, state="accepted")),
        AlertRaised(seq=2, alert=alert(2, state="assigned")),
        AlertRaised(seq=3, alert=alert(3)),
        AlertRaised(seq=4, alert=alert(4)),
        AlertRaised(seq=5, alert=alert(5, state="new", flagged=True)),
        AlertRaised(seq=6, alert=alert(6, state="dismissed", dismiss_reason="poor_image")),
    ])
    assert [a.id for a in state.queue(QueueFilter(state="all"))] == [
        "al-5", "al-4", "al-3", "al-2", "al-1", "al-6"
    ]
    assert [a.id for a in state.queue()] == ["al-5", "al-4", "al-3", "al-2", "al-1"]
    assert [a.id for a in state.queue(QueueFilter(state="closed"))] == ["al-6"]
    assert queue_rank(state.alerts["al-5"]) < queue_rank(state.alerts["al-4"])


def test_filters_by_deployment_category_and_text() -> None:
    state = fresh()
    state.apply_all([
        AlertRaised(seq=1, alert=alert(1, category="missing_person")),
        AlertRaised(seq=2, alert=alert(2, deployment="dep-2", camera="cam-2")),
        AlertRaised(seq=3, alert=alert(3, state="assigned", assigned_call_sign="Bravo-2")),
    ])
    assert [a.id for a in state.queue(QueueFilter(category="missing_person"))] == ["al-1"]
    assert [a.id for a in state.queue(QueueFilter(deployment_id="dep-2"))] == ["al-2"]
    assert [a.id for a in state.queue(QueueFilter(text="bravo"))] == ["al-3"]
    assert [a.id for a in state.queue(QueueFilter(text="st pancras"))] == ["al-2"]
    assert state.queue(QueueFilter(text="nobody")) == []


def test_unseen_until_looked_at_or_handled() -> None:
    state = fresh()
    state.apply(AlertRaised(seq=1, alert=alert(1)))
    state.apply(AlertRaised(seq=2, alert=alert(2)))
    assert state.unseen == {"al-1", "al-2"}
    state.mark_seen("al-1")
    state.apply(AlertUpdated(seq=3, alert=alert(2, version=2, state="assigned")))
    assert state.unseen == set()


def test_officers_by_distance_and_the_suggestion() -> None:
    state = fresh()
    a = alert(1)  # Gate A
    rows = state.officers_near(a)
    assert [r.officer.call_sign for r in rows] == ["Alpha-1", "Bravo-2", "Charlie-3", "Delta-4"]
    assert rows[0].distance_m is not None
    assert 50 < rows[0].distance_m < 100
    assert rows[-1].distance_m is None
    assert state.suggest_officer(a) is not None
    assert state.suggest_officer(a).call_sign == "Alpha-1"  # type: ignore[union-attr]
    # Alpha goes busy: the nearest *available* one is Charlie, though Bravo is nearer.
    busy = msgspec.structs.replace(officers()[0], status="busy")
    assert state.apply(OfficerUpdated(officer=busy)).kind == "officer"
    suggestion = state.suggest_officer(a)
    assert suggestion is not None
    assert suggestion.call_sign == "Charlie-3"
    # A disconnected officer is never suggested.
    gone = OfficerView(id="of-3", call_sign="Charlie-3", status="available", lat=51.53,
                       lon=-0.13, connected=False)
    state.apply(OfficerUpdated(officer=gone))
    assert state.suggest_officer(a) is None


def test_stats_are_replaced_and_summed_with_both_rates() -> None:
    state = fresh()
    state.apply(StatsUpdated(stats=DeploymentStats(
        deployment_id="dep-2", faces_processed=30000, alerts=31, confirmed=1, dismissed=16,
        not_the_person=10, adjudicated=27, false_alerts=26,
    )))
    one = state.stats_for("dep-1")
    assert one.faces_processed == 12120
    total = state.stats_for(None)
    assert total.faces_processed == 42120
    assert total.confirmed == 8
    # 42 alerts, 8 confirmed of 11 + 27 adjudicated; false alerts 3 + 26 of 42,120 faces.
    assert total.precision == pytest.approx(8 / 38)
    assert total.false_alert_rate == pytest.approx(29 / 42120)
    assert state.stats_for("dep-x").faces_processed == 0


def test_rates_are_none_before_any_data() -> None:
    empty = with_rates(DeploymentStats(deployment_id="d"))
    assert empty.false_alert_rate is None
    assert empty.precision is None


def test_unknown_messages_change_nothing() -> None:
    state = fresh()
    assert state.apply(object()).kind == "none"


def test_officer_map_letters_are_stable_and_distinct() -> None:
    state = fresh()
    marks = state.officer_marks()
    assert marks == {"of-1": "A", "of-2": "B", "of-3": "C", "of-4": "D"}
    # A position update does not reshuffle the letters.
    moved = msgspec.structs.replace(officers()[2], lat=51.6)
    state.apply(OfficerUpdated(officer=moved))
    assert state.officer_marks() == marks


def test_alerts_of_one_incident_make_one_queue_row_that_a_sighting_never_moves() -> None:
    state = fresh()
    state.apply_all([
        AlertRaised(seq=1, alert=alert(1)),
        AlertRaised(seq=2, alert=alert(2)),
        # Subject 1 again at the other camera: the same incident as al-1.
        AlertRaised(seq=3, alert=alert(3, camera="cam-2", entry_id="en-1", incident_id="al-1",
                                       display_name="Subject 1")),
    ])
    rows = state.incidents()
    assert [i.id for i in rows] == ["al-2", "al-1"]
    first = rows[1]
    assert [a.id for a in first.alerts] == ["al-3", "al-1"], "the newest alert leads"
    assert first.camera_names == ("Gate B", "Gate A")
    assert first.first_seen == T0 + 60
    assert first.sightings == 2
    # A later sighting of the older incident does not move it above the newer one.
    state.apply(AlertUpdated(seq=4, alert=alert(1, version=2, sightings=9,
                                                last_seen=T0 + 3600)))
    assert [i.id for i in state.incidents()] == ["al-2", "al-1"]
    # A state change does: an assigned incident goes below the new ones.
    state.apply(AlertUpdated(seq=5, alert=alert(2, version=2, state="assigned")))
    assert [i.id for i in state.incidents()] == ["al-1", "al-2"]
    # Without an incident id (an older server) every alert is its own incident.
    state.apply(AlertRaised(seq=6, alert=alert(7, incident_id="")))
    assert "al-7" in [i.id for i in state.incidents()]


def test_search_matches_the_cameras_own_place_not_the_deployments() -> None:
    state = fresh()
    state.apply_all([AlertRaised(seq=1, alert=alert(1)),
                     AlertRaised(seq=2, alert=alert(2, camera="cam-2"))])
    assert [a.id for a in state.queue(QueueFilter(text="concourse"))] == ["al-2"]
    assert state.queue(QueueFilter(text="King's Cross and St Pancras")) == []


def test_ack_deadline_names_and_pending() -> None:
    from shared.protocol.alerts import AlertEvent

    state = DispatchState(clock=lambda: T0)
    state.apply(snapshot(ack_timeout_s=120))
    assigned = alert(1, state="assigned", assigned_officer_id="of-2", events=(
        AlertEvent(at=T0 + 100, actor="acc-dee", action="assigned", detail="officer=of-2"),))
    state.apply(AlertRaised(seq=1, alert=assigned))
    assert state.ack_deadline(state.alerts["al-1"]) == T0 + 220
    assert state.ack_deadline(alert(2)) is None
    # Names: the server's, else a known officer's call sign, else the id.
    assert state.actor_name("acc-dee", "Dispatcher Dee") == "Dispatcher Dee"
    assert state.actor_name("of-2") == "Bravo-2"
    assert state.actor_name("acc-unknown") == "acc-unknown"
    assert state.set_pending("al-1", "assign Bravo-2").kind == "pending"
    assert state.pending == {"al-1": "assign Bravo-2"}
    state.set_pending("al-1", None)
    assert state.pending == {}


def test_a_note_on_an_incident_goes_to_the_alert_an_officer_has() -> None:
    state = fresh()
    state.apply_all([
        AlertRaised(seq=1, alert=alert(1, state="accepted", assigned_call_sign="Alpha-1")),
        AlertRaised(seq=2, alert=alert(2, incident_id="al-1")),
        AlertRaised(seq=3, alert=alert(3)),
    ])
    assert state.note_target(state.alerts["al-2"]).id == "al-1"
    assert state.note_target(state.alerts["al-3"]).id == "al-3"
