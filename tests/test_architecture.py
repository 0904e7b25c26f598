"""The package layers of docs/architecture.md hold: ``lint-imports`` checks ``.importlinter``
(the packages point one way, no modules of a package import each other in a circle).

``make lint`` runs the same check; this test makes CI hold it too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.paths import ROOT


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


def test_the_contract_lists_every_top_level_package() -> None:
    """A new package must take its place in the layers, or the check would not see it."""
    config = (ROOT / ".importlinter").read_text()
    packages = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").is_file() and p.name not in {"tests", "scripts"}
    }
    listed = {line.strip() for line in config.splitlines() if line.startswith("    ")}
    layer_names = {name.strip() for line in listed for name in line.split("|")}
    assert packages <= layer_names, f"not in .importlinter's layers: {packages - layer_names}"
