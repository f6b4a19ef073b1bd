"""Property test: any generated frame loads as a clean dataset or raises our error."""

from __future__ import annotations

import warnings
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pandas as pd

from automl_meta import AutoMLMetaError, AutoMLMetaWarning, load_dataset
from tests.data._helpers import _check_clean

TEXTS = ["", " ", "a", "b", "?", "NaN", "inf", "1", "2.5", "-", "é"]


@st.composite
def _columns(draw: Any, n: int) -> Any:
    kind = draw(st.sampled_from(
        ["float", "int", "constant", "text", "high-card", "bool", "mixed", "missing",
         "category", "nullable-int", "datetime"]
    ))
    if kind == "float":
        return draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                             min_size=n, max_size=n))
    if kind == "int":
        return draw(st.lists(st.integers(-(10**12), 10**12), min_size=n, max_size=n))
    if kind == "constant":
        value = draw(st.one_of(st.floats(), st.integers(-5, 5), st.sampled_from(TEXTS)))
        return [value] * n
    if kind == "text":
        return draw(st.lists(st.sampled_from(TEXTS) | st.text(max_size=4),
                             min_size=n, max_size=n))
    if kind == "high-card":
        return [f"level{i}" for i in draw(st.permutations(range(n)))]
    if kind == "bool":
        return draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if kind == "missing":
        return [None] * n
    if kind == "category":
        values = draw(st.lists(st.sampled_from(TEXTS) | st.none(), min_size=n, max_size=n))
        return pd.Categorical(values)
    if kind == "nullable-int":
        values = draw(st.lists(st.integers(-3, 3) | st.none(), min_size=n, max_size=n))
        return pd.array(values, dtype="Int64")
    if kind == "datetime":
        stamps = st.datetimes() | st.none()
        return pd.to_datetime(draw(st.lists(stamps, min_size=n, max_size=n)))
    return draw(st.lists(st.one_of(st.none(), st.integers(-3, 3), st.floats(),
                                   st.sampled_from(TEXTS)), min_size=n, max_size=n))


@st.composite
def _frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(1, 45))
    columns = {f"f{i}": draw(_columns(n)) for i in range(draw(st.integers(1, 4)))}
    target_kind = draw(st.sampled_from(["classes", "one-class", "float", "text", "bool"]))
    if target_kind == "classes":
        target: list[Any] = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    elif target_kind == "one-class":
        target = [7] * n
    elif target_kind == "float":
        target = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                               min_size=n, max_size=n))
    elif target_kind == "text":
        target = draw(st.lists(st.sampled_from(["", "x", "y", None, " "]),
                               min_size=n, max_size=n))
    else:
        target = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    columns["target"] = target
    return pd.DataFrame(columns)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(frame=_frames(), task=st.sampled_from([None, "classification", "regression"]))
def test_load_dataset_returns_a_dataset_or_raises_our_error(
    frame: pd.DataFrame, task: str | None
) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            ds = load_dataset(frame, task=task)
        except AutoMLMetaError as exc:
            assert str(exc)  # every error says what went wrong
            ds = None
    foreign = [f"{w.category.__name__}: {w.message}" for w in record
               if not issubclass(w.category, AutoMLMetaWarning)]
    assert not foreign  # no stray pandas / numpy warnings leak to the user
    if ds is not None:
        _check_clean(ds)
        if task is not None:
            assert ds.task == task
