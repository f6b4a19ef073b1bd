"""Commands that only read a meta-database never create one where --db points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl_meta.cli import app


@pytest.mark.parametrize("command", [["db", "stats"], ["db", "export", "bundle-out"]])
def test_a_missing_store_is_refused_not_created(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "meta.sqlite"
    done = subprocess.run([sys.executable, "-c", "from automl_meta.cli import main; main()",
                           *command, "--db",
                           str(missing)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "no meta-database there" in done.stderr and "--db" in done.stderr
    assert "Traceback" not in done.stderr
    assert not missing.parent.exists()


def test_an_existing_store_is_still_read(tmp_path: Path) -> None:
    from automl_meta.metadb import MetaDB

    store = tmp_path / "meta.sqlite"
    MetaDB(store).close()
    result = CliRunner().invoke(app, ["db", "stats", "--db", str(store), "--json"])
    assert result.exit_code == 0, result.output
    assert '"datasets": 0' in result.output
