"""Schemathesis against ``/schema/openapi.json`` with each role's token (issue 15): every
response must conform to the schema (status, content type, headers, body), no request may
get a 5xx or log an error or a traceback.

Three checks are left out, on purpose: ``positive_data_acceptance`` (schema-valid requests
the server refuses on meaning the schema cannot express: a window that ends before it starts,
an account id that is not a camera's), ``allow_header_conformance`` (Litestar's automatic
OPTIONS answer lists the methods of one handler per path; no Vigil client uses OPTIONS) and
``negative_data_rejection``: Litestar converts request bodies leniently (``0``/``1`` for a
boolean, ``"5"`` for a number), so such a schema-violating body is accepted with its obvious
meaning instead of refused. Bounds are enforced either way (a value out of range is 400).
Budget: ``VIGIL_FUZZ_REST_EXAMPLES`` per operation and role, phases
``VIGIL_FUZZ_REST_PHASES``; ``make fuzz`` raises both.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.server_thread import ServerThread, budget, report

pytestmark = pytest.mark.slow  # seven schemathesis runs: minutes, not seconds

EXAMPLES = budget("VIGIL_FUZZ_REST_EXAMPLES", 1)
PHASES = os.environ.get("VIGIL_FUZZ_REST_PHASES", "fuzzing")
EXCLUDED = "positive_data_acceptance,allow_header_conformance,negative_data_rejection"
# Admin last: its fuzzing may create and revoke accounts.
ROLES = ("auditor", "officer", "camera", "dispatcher", "watchlist_manager", "authoriser",
         "admin")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(Path(tmp_path_factory.mktemp("fuzz-rest"))) as srv:
        yield srv


def schemathesis() -> list[str]:
    cli = Path(sys.executable).with_name("st")
    if not cli.exists():
        pytest.skip("schemathesis is not installed (pip install '.[test]')")
    return [str(cli)]


@pytest.mark.parametrize("role", ROLES)
def test_rest_api_conforms_for_every_role(server: ServerThread, role: str,
                                          tmp_path: Path) -> None:
    before = len(server.problems.records)
    run = subprocess.run(
        [*schemathesis(), "run", server.http + "/schema/openapi.json",
         "-H", f"Authorization: Bearer {server.tokens[role]}",
         "--checks", "all", "--exclude-checks", EXCLUDED,
         "--max-examples", str(EXAMPLES), "--phases", PHASES, "--workers", "1",
         "--seed", os.environ.get("VIGIL_FUZZ_SEED", "15"), "--request-timeout", "60",
         "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path, check=False,
    )
    out = run.stdout + run.stderr
    generated = re.search(r"(\d+) generated", out)
    server_errors = len(re.findall(r"\[5\d\d\]", out))
    problems = server.problems.lines()[before:]
    report(f"REST as {role}", inputs=int(generated.group(1)) if generated else 0,
           exit_code=run.returncode, responses_5xx=server_errors,
           log_problems=len(problems))
    assert run.returncode == 0, out[-6000:]
    assert server_errors == 0
    assert problems == []
