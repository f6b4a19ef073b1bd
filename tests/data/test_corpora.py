"""Every dataset of the shared PMLB and UCI corpora loads as its index and ARFF
header say."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from automl_meta import load_dataset
from automl_meta.data import list_datasets
from tests.data._helpers import _check_clean, _messages


def _arff_fields(line: str) -> list[tuple[str, bool]]:
    """Split an ARFF data line on commas; each field with whether it was quoted."""
    fields: list[tuple[str, bool]] = []
    current: list[str] = []
    quote: str | None = None
    quoted = False
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and index + 1 < len(line):
                current.append(line[index + 1])
                index += 1
            elif char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "'\"":
            quote, quoted = char, True
        elif char == ",":
            fields.append(("".join(current).strip(), quoted))
            current, quoted = [], False
        else:
            current.append(char)
        index += 1
    fields.append(("".join(current).strip(), quoted))
    return fields


def _parse_arff(path: Path) -> tuple[list[tuple[str, str]], list[list[tuple[str, bool]]]]:
    """A small independent ARFF reader: (name, 'nominal'/'numeric') pairs and the rows."""
    attributes: list[tuple[str, str]] = []
    rows: list[list[tuple[str, bool]]] = []
    in_data = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        if in_data:
            rows.append(_arff_fields(line))
        elif line.lower().startswith("@attribute"):
            match = re.match(r"@attribute\s+('[^']*'|\S+)\s+(.*)$", line, re.IGNORECASE)
            assert match, line
            name = match.group(1).strip("'")
            attributes.append((name, "nominal" if match.group(2).startswith("{") else "numeric"))
        elif line.lower().startswith("@data"):
            in_data = True
    return attributes, rows


# Integer-coded row labels (company / firm / instance names) that PMLB kept as features;
# index.csv counts them, load_dataset drops them as row IDs (with a warning).
PMLB_ID_COLUMNS = {
    "analcatdata_bankruptcy": "Company",
    "analcatdata_japansolvent": "Firm",
    "molecular-biology_promoters": "instance",
    "promoters": "name",
}


@pytest.mark.requires_shared
def test_every_pmlb_dataset_loads_and_matches_the_index(shared_datasets: Path) -> None:
    directory = shared_datasets / "pmlb"
    index = pd.read_csv(directory / "index.csv").set_index("name")
    paths = list_datasets(directory)
    assert len(paths) == len(index) == 230
    problems: list[str] = []
    for path in paths:
        name = path.name.removesuffix(".tsv.gz")
        expected = index.loc[name]
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                ds = load_dataset(path)
            except Exception as exc:  # collect every failure, then report them all
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
        messages = _messages(record)
        id_column = PMLB_ID_COLUMNS.get(name)
        n_features = int(expected["n_features"]) - (1 if id_column else 0)
        got = (ds.n_rows, ds.n_features, ds.task)
        want = (int(expected["n_rows"]), n_features, expected["task"])
        if got != want:
            problems.append(f"{name}: (rows, features, task) {got} != {want}")
        wanted_messages = [f"Dropped column '{id_column}'"] if id_column else []
        if [m[: len(w)] for m, w in zip(messages, wanted_messages, strict=False)] != (
            wanted_messages
        ) or len(messages) != len(wanted_messages):
            problems.append(f"{name}: unexpected warnings {messages}")
        if ds.task == "classification" and ds.n_classes != int(expected["n_target_values"]):
            problems.append(f"{name}: {ds.n_classes} classes != {expected['n_target_values']}")
        if int(ds.X.isna().sum().sum()) != int(expected["n_missing"]):
            problems.append(f"{name}: missing values differ from the index")
    assert not problems, "\n".join(problems)


UCI_TASKS = {
    "anneal": "classification", "audiology": "classification", "autos": "classification",
    "breast.cancer": "classification", "labor": "classification", "mushroom": "classification",
    "soybean": "classification", "vote": "classification", "autohorse": "regression",
    "cholesterol": "regression", "meta": "regression", "pbc": "regression",
    "servo": "regression",
}

# Documented in the UCI dataset descriptions: missing values per attribute.
UCI_KNOWN_MISSING = {
    "mushroom": {"stalk-root": 2480},
    "anneal": {"family": 772, "steel": 86},  # a quoted '?' level (OpenML: 22175 missing)
    "breast.cancer": {"node-caps": 8, "breast-quad": 1},
}


@pytest.mark.requires_shared
def test_every_uci_arff_dataset_loads_with_types_and_missing_values(
    shared_datasets: Path,
) -> None:
    paths = list_datasets(shared_datasets / "uci-arff")
    assert sorted(p.name.removesuffix(".arff") for p in paths) == sorted(UCI_TASKS)
    problems: list[str] = []
    for path in paths:
        name = path.name.removesuffix(".arff")
        attributes, rows = _parse_arff(path)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            ds = load_dataset(path)
        _check_clean(ds)
        messages = _messages(record)
        if ds.task != UCI_TASKS[name] or not any(
            m.startswith(f"Inferred task '{UCI_TASKS[name]}'") for m in messages
        ):
            problems.append(f"{name}: task {ds.task}, warnings {messages}")
        label, label_kind = attributes[-1]
        if ds.y.name != label:
            problems.append(f"{name}: label {ds.y.name!r}, expected the last attribute {label!r}")
        # the rows kept are those whose label is not missing
        kept = [r for r in rows if r[-1][0] != "?"]
        if len(rows) != len(kept) and not any(
            f"Dropped {len(rows) - len(kept)} of {len(rows)} rows" in m for m in messages
        ):
            problems.append(f"{name}: no warning about {len(rows) - len(kept)} unlabelled rows")
        if ds.n_rows != len(kept):
            problems.append(f"{name}: {ds.n_rows} rows, expected {len(kept)}")
        # '?' quoted or not is missing; columns missing in every row are dropped, with a warning
        empty = [c for i, (c, _) in enumerate(attributes[:-1])
                 if all(r[i][0] == "?" for r in kept)]
        if sorted(ds.X.columns) != sorted(c for c, _ in attributes[:-1] if c not in empty):
            problems.append(f"{name}: features {list(ds.X.columns)}, expected all but {empty}")
        for column in empty:
            if not any(f"column {column!r}" in m and "missing in every row" in m
                       for m in messages):
                problems.append(f"{name}.{column}: dropped without a warning")
        for position, (column, kind) in enumerate(attributes[:-1]):
            if column not in ds.X.columns:
                continue
            series = ds.X[column]
            if kind == "nominal" and not isinstance(series.dtype, pd.CategoricalDtype):
                problems.append(f"{name}.{column}: nominal but {series.dtype}")
            if kind == "numeric" and column not in ds.numeric:
                problems.append(f"{name}.{column}: numeric but {series.dtype}")
            expected_missing = sum(1 for r in kept if r[position][0] == "?")
            if int(series.isna().sum()) != expected_missing:
                problems.append(
                    f"{name}.{column}: {int(series.isna().sum())} missing, "
                    f"the file has {expected_missing} '?'"
                )
        for column, count in UCI_KNOWN_MISSING.get(name, {}).items():
            if int(ds.X[column].isna().sum()) != count:
                problems.append(f"{name}.{column}: expected {count} missing (UCI)")
        if label_kind == "nominal" and ds.task != "classification":
            problems.append(f"{name}: nominal label but task {ds.task}")
    assert not problems, "\n".join(problems)
