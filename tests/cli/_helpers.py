"""Helpers of the command-line tests."""

from __future__ import annotations

import sys

import pytest


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             args: list[str]) -> tuple[int, str]:
    """Run the installed entry point ``automl-meta ARGS``; (exit code, stderr)."""
    from automl_meta.cli import main

    monkeypatch.setattr(sys, "argv", ["automl-meta", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main()
    return int(stopped.value.code or 0), capsys.readouterr().err
