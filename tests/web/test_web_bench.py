"""``bright bench ui`` is mounted and refuses a meaningless load count before starting
anything (the benchmark itself is run by ``bright bench ui``, not timed in tests)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bright.bench_ui import bench_ui
from bright.cli import app


def test_bench_ui_refuses_zero_loads() -> None:
    with pytest.raises(ValueError, match="loads must be at least 1"):
        bench_ui(loads=0)


def test_bench_ui_command_is_mounted() -> None:
    result = CliRunner().invoke(app, ["bench", "ui", "--help"])
    assert result.exit_code == 0
    assert "--loads" in result.output and "time from navigation" in result.output
    bad = CliRunner().invoke(app, ["bench", "ui", "--loads", "0"])
    assert bad.exit_code != 0
