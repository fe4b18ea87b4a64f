"""``linkflow schedule preview``: the next fire instants on the command line."""

from __future__ import annotations

import pytest

from linkflow_engine.cli import main


def test_preview_prints_local_and_utc_instants(capsys: pytest.CaptureFixture[str]) -> None:
    """Weekday mornings in Paris, from a Friday noon: Monday and Tuesday at 9:00 (8:00 UTC)."""
    argv = ["schedule", "preview", "0 9 * * 1-5", "--tz", "Europe/Paris", "--count", "2"]
    assert main([*argv, "--start", "2024-03-08T12:00:00+01:00"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2024-03-11T09:00:00+01:00  2024-03-11T08:00:00Z",
        "2024-03-12T09:00:00+01:00  2024-03-12T08:00:00Z",
    ]


def test_preview_of_an_interval(capsys: pytest.CaptureFixture[str]) -> None:
    """--interval 15 --unit minutes: quarter hours."""
    argv = ["schedule", "preview", "--interval", "15", "--unit", "minutes", "--count", "1"]
    assert main([*argv, "--start", "2024-03-08T12:05:00Z"]) == 0
    assert capsys.readouterr().out.split() == ["2024-03-08T12:15:00+00:00", "2024-03-08T12:15:00Z"]


def test_a_bad_expression_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid cron is reported on stderr with exit code 2."""
    assert main(["schedule", "preview", "9 * *"]) == 2
    assert "5 fields" in capsys.readouterr().err
