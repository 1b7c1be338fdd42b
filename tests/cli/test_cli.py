"""The command line and the demo it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from resultflow.cli._demo import OrderServices, order_workflow, run_demo
from resultflow.cli._main import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from resultflow import __version__

    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"resultflow {__version__}"


def test_unknown_command_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


async def test_demo_persists_to_sqlite_and_resumes_without_redoing_steps(tmp_path: Path) -> None:
    lines: list[str] = []
    db = tmp_path / "demo.db"
    assert await run_demo(db, lines.append) == 0
    text = "\n".join(lines)
    assert db.exists()
    assert "Err(CarrierUnavailable(carrier='north-express'))" in text
    assert "Ok('tracking-for-reservation-sku-42')" in text
    assert "[cached] reserve" in text
    assert "[cached] charge" in text
    assert "(2 retries)" in text
    # reserve once, charge 3 attempts in the first run only, ship in both runs
    assert "{'reserve': 1, 'charge': 3, 'ship': 2}" in text
    # the large orders pause, one is rejected and rolled back in reverse, one ships
    assert "Paused(run_id='o-2001', pending=['approve:o-2001'])" in text
    assert "Failed(run_id='o-2001', error=ApprovalRejected(" in text
    assert "Completed(run_id='o-2002', result='tracking-for-reservation-o-2002')" in text
    rollback = text.index("[ok] compensate charge")
    assert rollback < text.index("[ok] compensate reserve")
    assert "'refund': 1, 'release': 1, 'ship': 1" in text


async def test_order_workflow_directly() -> None:
    from resultflow import Ok, run

    services = OrderServices(gateway_failures=0, carrier_up=True)
    result = await run(order_workflow(services), "sku-1", 10)
    assert result == Ok("tracking-for-reservation-sku-1")
    assert services.calls == {"reserve": 1, "charge": 1, "ship": 1}


def test_console_script_runs_the_demo(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "resultflow.cli._main", "demo", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "resumed" in completed.stdout or "resume" in completed.stdout
