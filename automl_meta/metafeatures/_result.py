"""The :class:`MetaFeatures` result: a read-only mapping from name to value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pandas as pd


class MetaFeatures(Mapping[str, float]):
    """Meta-feature values by name (``"nr_inst"``, ``"cor.mean"``...), read-only.

    Attributes:
        seconds: time to compute each name's base measure, with the dependencies it needs
            (``cor.mean`` and ``cor.sd`` both carry the time of ``cor``).
        groups: the group of each name.

    Example:
        >>> from automl_meta.metafeatures import extract_metafeatures
        >>> mf = extract_metafeatures("sklearn:iris", groups=["general"])
        >>> mf["nr_inst"], mf.groups["nr_inst"]
        (150.0, 'general')
    """

    def __init__(
        self, values: dict[str, float], seconds: dict[str, float], groups: dict[str, str]
    ) -> None:
        self._values = dict(values)
        self._seconds = dict(seconds)
        self._groups = dict(groups)

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"MetaFeatures({len(self)} values)"

    @property
    def seconds(self) -> dict[str, float]:
        return dict(self._seconds)

    @property
    def groups(self) -> dict[str, str]:
        return dict(self._groups)

    def to_dict(self) -> dict[str, float]:
        """A plain ``{name: value}`` copy."""
        return dict(self._values)

    def to_series(self) -> pd.Series:
        """The values as a float Series indexed by name, sorted by name."""
        return pd.Series(self._values, dtype=float, name="value").sort_index()
