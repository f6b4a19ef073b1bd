"""Errors and warnings in the CLI's terms: option names, not Python arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_meta import load_dataset
from automl_meta.cli._common import in_cli_terms
from automl_meta.errors import DatasetError
from tests.cli._helpers import run_main


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test records into its own store and learns from no shipped bundle."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))


@pytest.fixture
def unlabelled_csv(tmp_path: Path) -> Path:
    """30 rows and no column a label could be guessed from."""
    path = tmp_path / "plain.csv"
    path.write_text("width,height\n" + "".join(f"{i % 4},{i % 7}\n" for i in range(30)))
    return path


def _one_paragraph(err: str) -> str:
    text = err.strip()
    assert text.startswith("error: ") and text.count("error:") == 1, err
    assert "\n\n" not in text and "Traceback" not in text, err
    return " ".join(text.split())


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_a_missing_target_names_the_target_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        unlabelled_csv: Path, command: str) -> None:
    code, err = run_main(monkeypatch, capsys, [command, str(unlabelled_csv)])
    message = _one_paragraph(err)
    assert code == 2
    assert "No target column given for 'plain'" in message
    assert "Pass --target <column name>." in message and "columns: width, height" in message
    assert "target=" not in message


def test_an_unknown_target_names_the_target_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        unlabelled_csv: Path) -> None:
    code, err = run_main(monkeypatch, capsys, ["fit", str(unlabelled_csv), "--target", "heigth"])
    message = _one_paragraph(err)
    assert code == 2 and "Did you mean: 'height'" in message
    assert "--target" in message and "target=" not in message


def test_a_directory_points_to_the_commands_that_take_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    code, err = run_main(monkeypatch, capsys, ["fit", str(tmp_path)])
    message = _one_paragraph(err)
    assert code == 2 and "is a directory; expected one data file" in message
    assert "`automl-meta db build DIR`" in message and "`automl-meta benchmark DIR`" in message
    assert "automl_meta." not in message and "list_datasets" not in message


def test_an_unknown_task_names_the_task_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        unlabelled_csv: Path) -> None:
    code, err = run_main(monkeypatch, capsys, ["evaluate", str(unlabelled_csv), "--target",
                                          "height", "--task", "clasification"])
    message = _one_paragraph(err)
    assert code == 2 and "--task clasification is not a task we know" in message
    assert "task=" not in message


def test_an_unknown_protocol_names_the_protocol_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        unlabelled_csv: Path) -> None:
    code, err = run_main(monkeypatch, capsys, ["evaluate", str(unlabelled_csv), "--target",
                                          "height", "--task", "regression", "--protocol", "cv1"])
    message = _one_paragraph(err)
    assert code == 2 and "--protocol cv1 is not a protocol we know" in message
    assert "protocol=" not in message


def test_warnings_name_the_options_too(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    path = tmp_path / "twice.tsv"  # a feature named 'target' besides the label, as PMLB schizo
    path.write_text("a\ttarget\ttarget\n" + "".join(f"{i % 5}\t{i % 7}\t{i % 2}\n"
                                                 for i in range(30)))
    code, err = run_main(monkeypatch, capsys, ["metafeatures", str(path), "--groups", "general",
                                          "--json"])
    text = " ".join(err.split())
    assert code == 0, err
    assert "2 columns are named 'target'; read them as 'target', 'target.1'" in text
    assert "pass --target <column name> to choose another" in text
    assert "Inferred task 'classification' from the target 'target.1'; pass --task ..." in text
    assert "target=" not in text and "task=" not in text


def test_python_callers_keep_the_python_wording(unlabelled_csv: Path) -> None:
    with pytest.raises(DatasetError, match=r"Pass target=<column name>\.") as raised:
        load_dataset(unlabelled_csv)
    assert raised.value.parameter == "target"
    with pytest.raises(DatasetError, match=r"Use automl_meta\.data\.list_datasets") as raised:
        load_dataset(unlabelled_csv.parent)
    assert raised.value.parameter == "source" and raised.value.advice in str(raised.value)


def test_in_cli_terms_leaves_other_messages_alone() -> None:
    plain = DatasetError("No file at 'x.csv'; check target=1 in your notes.")
    assert in_cli_terms(plain) == str(plain)  # no parameter: nothing to rewrite
    quoted = DatasetError("target='my col' is not a column.", parameter="target")
    assert in_cli_terms(quoted) == "--target 'my col' is not a column."
    assert in_cli_terms(ValueError("boom")) == "boom"


@pytest.mark.parametrize(("args", "option"), [
    (["recommend", "sklearn:iris", "-k", "0"], "--k 0"),
    (["recommend", "sklearn:iris", "--strategy", "knnn"], "--strategy knnn"),
    (["evaluate", "sklearn:iris", "--time-limit", "-1"], "--time-limit -1"),
])
def test_a_bad_option_value_is_named_as_the_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        args: list[str], option: str) -> None:
    code, err = run_main(monkeypatch, capsys, args)
    message = _one_paragraph(err)
    assert code == 2 and option in message
    name = option.split()[0].lstrip("-").replace("-", "_")
    assert f"{name}=" not in message
