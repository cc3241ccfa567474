"""Statistics with known truth: the Essex review's 42 alerts, 8 confirmed (19.0%), and the
false alert rate per face processed, always reported together; transparency record."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from server.cli import main as vigil
from server.domain.stats import OutcomeCounts, figures, one_in, percent
from server.domain.transparency import to_markdown
from server.recognition.tracker import CooldownTracker
from server.runtime import Core, Runtime
from server.services.transparency import transparency_record
from server.store.audit import ChainAudit
from server.store.db import Database
from server.store.models import Deployment
from server.store.views import deployment_stats
from server.ws.hub import Hub
from tests.governance import rows
from tests.governance.conftest import FakeClock
from tests.server.conftest import make_settings

FACES = 30_000
# Essex review of six Met trials: 42 alerts; 16 rejected at once by the operators; of 26 stop
# attempts 4 never reached the person; of 22 stops 8 were the right person.
SCRIPT = (
    [("dismissed", None, "different_person")] * 16
    + [("resolved", "not_located", None)] * 4
    + [("resolved", "not_the_person", None)] * 14
    + [("resolved", "confirmed_match", None)] * 8
)


async def scripted(rt: Runtime, extra_open: int = 0) -> None:
    data = rt.settings.data_path
    async with rt.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-essex", rt.clock(), faces=FACES)
        script = SCRIPT + [("new", None, None)] * extra_open
        for i, (state, outcome, reason) in enumerate(script):
            await rows.alert(session, data, f"alr-{i}", "dep-essex", rt.clock(), state=state,
                             outcome=outcome, reason=reason, seq=i + 1)


async def test_known_truth_42_alerts_8_confirmed(runtime: Runtime) -> None:
    await scripted(runtime, extra_open=3)
    async with runtime.db.sessions() as session:
        dep = await session.get(Deployment, "dep-essex")
        assert dep is not None
        stats = await deployment_stats(session, dep)
    assert stats.alerts == 45
    assert stats.open == 3
    assert stats.adjudicated == 42
    assert stats.confirmed == 8
    assert stats.dismissed == 16
    assert stats.not_the_person == 14
    assert stats.not_located == 4
    assert stats.precision == 8 / 42
    assert percent(stats.precision) == "19.0%"
    assert stats.false_alerts == 30
    assert stats.false_alert_rate == 30 / FACES
    assert one_in(stats.false_alert_rate) == "1 in 1,000"


def test_figures_definitions() -> None:
    none = figures(OutcomeCounts(), 0)
    assert (none.precision, none.false_alert_rate) == (None, None)
    # A duplicate dismissed is adjudicated but not a false match.
    c = OutcomeCounts(alerts=3, dismissed=2, dismissed_different_person=1, confirmed=1)
    f = figures(c, 100)
    assert (f.adjudicated, f.false_alerts, f.precision, f.false_alert_rate) == (
        3, 1, 1 / 3, 0.01)


async def test_transparency_record_equals_the_store(runtime: Runtime) -> None:
    await scripted(runtime)
    async with runtime.db.sessions() as session:
        dep = await session.get(Deployment, "dep-essex")
        assert dep is not None
        record = await transparency_record(session, dep, runtime.clock())
        stats = await deployment_stats(session, dep)
    assert record.stats == stats
    assert record.deployment.place == "Oxford Circus"
    assert record.deployment.purpose == "locate_serious_crime_suspect"
    assert record.authorisation == "none"
    md = to_markdown(record)
    assert "| Alerts | 42 |" in md
    assert "8 confirmed of 42 adjudicated alerts = 19.0%" in md
    assert "30 false alerts in 30,000 faces processed = 0.1000% (1 in 1,000)" in md
    assert "not by itself grounds for arrest" in md


def test_vigil_stats_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)

    async def prepare() -> None:
        rt = Core(settings=settings, db=Database(settings.database_url), clock=FakeClock(),
                     audit=ChainAudit(), publisher=Hub(),
                 tracker=CooldownTracker(settings.cooldown_s))
        await rt.db.migrate()
        await scripted(rt)
        await rt.db.close()

    asyncio.run(prepare())
    args = ["--data-dir", settings.data_dir]
    assert vigil(["stats", "dep-essex", *args]) == 0
    out = capsys.readouterr().out
    assert "19.0%" in out
    assert "(8 / 42 adjudicated alerts)" in out
    assert "1 in 1,000" in out
    assert vigil(["stats", "dep-essex", "--json", *args]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["stats"]["precision"] == 8 / 42
    assert record["stats"]["false_alert_rate"] == 30 / FACES
    assert record["deployment"]["place"] == "Oxford Circus"
    assert vigil(["stats", "dep-essex", "--markdown", *args]) == 0
    assert capsys.readouterr().out.startswith("# Live facial recognition deployment")
    assert vigil(["stats", "nope", *args]) == 2
