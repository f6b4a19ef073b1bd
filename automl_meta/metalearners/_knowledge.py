"""``MetaKnowledge``: the meta-database as in-memory matrices, ready for meta-learning.

Sources are layered: the shipped read-only bundle (``meta_db/``) plus the user's writable
store, so every recorded run is used by the next recommendation. Datasets are keyed by
content fingerprint and configurations by (task, hash), so the same dataset or
configuration in two sources is one row.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.config import shipped_meta_db_dir, user_db_url
from automl_meta.errors import MetaDBError

FLOOR_PERCENTILE = 10
# the grid: configurations evaluated on at least this share of a task's datasets (and on
# at least three of them); a dataset is put on the grid's scale through the grid
# configurations it ran, and needs MIN_ANCHORS of them to be used at all
ANCHOR_SHARE = 0.25
MIN_ANCHORS = 5
# a dataset that ran at least this share of the grid is a broad sample of it (a grid row
# with cells missing, as 505_tecator's 70 of 155): normalised on its own grid
# configurations and counted fully; one that ran less (a search's trials, typically a tenth
# of the grid) is calibrated onto the others' scale and counts by the square of its share
FULL_GRID_SHARE = 0.4
MIN_CALIBRATION_R2 = 0.3
FULL_EVIDENCE = 0.5  # a dataset that counts this much is a "whole" row (see whole_rows)
PRIOR_STRENGTH = 3.0  # datasets' worth of weight of an algorithm's mean in a config's prior
# the protocol suffix of a second fidelity, e.g. "cv3:s0:r10000" (see metadb._builder)
ROWS_SUFFIX = r":r(\d+)$"
HAS_ROWS_SUFFIX = r":r\d+$"


@dataclass
class TaskMatrix:
    """Scores of one task type: datasets x configurations.

    ``raw`` holds the primary metric (NaN where not evaluated, ``-inf`` never appears);
    ``normalised`` maps each dataset's scores to [0, 1] on the scale of the common grid
    (1 = its best grid configuration, 0 = its weak ones; a failed evaluation counts as 0).
    ``anchors`` marks the grid: the configurations evaluated on many of the task's
    datasets. ``evidence`` is how much each dataset counts, in [0, 1]: a dataset that ran the
    grid (or at least ``FULL_GRID_SHARE`` of it) counts fully, one that ran less (a user's
    search) by the square of the share it ran (see :func:`calibrate_partial_rows`).

    Example:
        >>> raw = np.array([[0.9, 0.7], [0.6, np.nan]])
        >>> matrix = TaskMatrix("classification", ["iris", "wine"], ["c1", "c2"], raw,
        ...                     normalised=np.array([[1.0, 0.0], [1.0, np.nan]]))
        >>> matrix.subset(np.array([False, True])).datasets
        ['wine']
        >>> matrix.evidence.tolist(), matrix.anchors.tolist()
        ([1.0, 1.0], [True, True])
    """

    task: str
    datasets: list[str]
    configs: list[str]
    raw: np.ndarray
    normalised: np.ndarray
    evidence: np.ndarray = field(default=None)  # type: ignore[assignment]
    anchors: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.evidence is None:
            self.evidence = np.ones(len(self.datasets))
        if self.anchors is None:
            self.anchors = np.ones(len(self.configs), dtype=bool)

    def subset(self, keep: np.ndarray) -> TaskMatrix:
        return TaskMatrix(self.task, [d for d, k in zip(self.datasets, keep, strict=True) if k],
                          self.configs, self.raw[keep], self.normalised[keep],
                          self.evidence[keep], self.anchors)

    def whole_rows(self) -> np.ndarray:
        """Which datasets ran (most of) the grid, as a mask (see :func:`whole_rows`)."""
        return whole_rows(self.evidence)

    def tried_on(self) -> np.ndarray:
        """Per configuration: the evidence-weighted number of datasets that evaluated it."""
        return (np.isfinite(self.normalised) * self.evidence[:, None]).sum(axis=0)

    def config_prior(self, algorithms: list[str],
                     strength: float = PRIOR_STRENGTH) -> np.ndarray:
        """Each configuration's expected normalised score on a dataset that did not run it.

        Its evidence-weighted mean over the datasets that ran it, shrunk towards the mean of
        its algorithm's configurations with the weight of ``strength`` datasets: a
        configuration one search chose on one dataset (its best there, so 1.0) is not
        everyone's best, while one the whole grid ran keeps its own mean.

        Example:
            >>> m = TaskMatrix("classification", ["a", "b"], ["x", "y", "z"],
            ...                np.zeros((2, 3)), np.array([[1.0, 0.2, np.nan],
            ...                                            [np.nan, 0.4, 0.6]]))
            >>> m.config_prior(["rf", "rf", "svm"], strength=1.0).round(2).tolist()
            [0.77, 0.38, 0.6]
        """
        present = np.isfinite(self.normalised)
        weights = present * self.evidence[:, None]
        sums = (np.nan_to_num(self.normalised) * weights).sum(axis=0)
        counts = weights.sum(axis=0)
        labels = np.asarray(algorithms)
        with np.errstate(all="ignore"):
            own = sums / counts
        base = np.full(len(self.configs), 0.5)
        for algorithm in set(algorithms):
            cols = labels == algorithm
            if counts[cols].sum() > 0:
                base[cols] = sums[cols].sum() / counts[cols].sum()
        with np.errstate(all="ignore"):
            prior = (counts * np.nan_to_num(own) + strength * base) / (counts + strength)
        return np.where(counts + strength > 0, prior, base)


@dataclass
class MetaKnowledge:
    """What the meta-learners learn from: datasets, meta-features, configurations, scores.

    Example:
        >>> knowledge = load_knowledge()  # doctest: +SKIP
        >>> knowledge.matrix("classification").raw.shape  # doctest: +SKIP
        >>> knowledge.without(families={"iris"})  # doctest: +SKIP
    """

    datasets: pd.DataFrame  # index: fingerprint; columns name, family, task, n_rows, ...
    metafeatures: pd.DataFrame  # index: fingerprint; one column per meta-feature
    configs: pd.DataFrame  # index: key "task/hash"; columns task, algorithm, params
    matrices: dict[str, TaskMatrix] = field(default_factory=dict)
    # every successful evaluation with its raw score (columns fingerprint, config, score,
    # origin), also of datasets the matrices leave out (no meta-features, too few grid
    # configurations)
    runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["fingerprint", "config", "score", "origin"]))
    # evaluations at a second fidelity (a build's pass on up to ``rows`` rows of the larger
    # datasets); the matrices hold the base fidelity only
    larger_runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["fingerprint", "config", "rows", "score", "origin"]))

    @classmethod
    def from_tables(cls, tables: list[dict[str, pd.DataFrame]],
                    origins: list[str] | None = None) -> MetaKnowledge:
        """Merge the tables of one or more stores (shipped bundle first, user store last).

        ``origins`` names where each table comes from (``"shipped"``, ``"user"``); it is
        kept with every run, so advice can say whose runs it repeats.
        """
        origins = origins or ["store"] * len(tables)
        datasets, features, configs, evaluations = [], [], [], []
        larger_runs: list[pd.DataFrame] = []
        for t, origin in zip(tables, origins, strict=True):
            d = t["dataset"].set_index("id")
            c = t["config"].set_index("id")
            datasets.append(d.reset_index(drop=True))
            mf = t["metafeature"]
            if len(mf):
                mf = mf.assign(fingerprint=d.loc[mf["dataset_id"], "fingerprint"].to_numpy())
                features.append(mf[["fingerprint", "name", "value"]])
            c = c.assign(key=c["task"] + "/" + c["hash"])
            configs.append(c[["key", "task", "algorithm", "params_json"]])
            ev = t["evaluation"]
            # an ok evaluation without a score holds another metric only (an imported Optuna
            # study of log_loss, say): it ranks nothing, and it is no failure either
            ev = ev[(ev["status"] != "ok") | ev["score"].notna()]
            # a build's second fidelity (protocol "cv3:s0:r10000") ranks on more rows than
            # the base one it would otherwise overwrite: it is kept apart
            protocol = ev["protocol"] if "protocol" in ev else pd.Series("", index=ev.index)
            larger = protocol.astype(str).str.contains(HAS_ROWS_SUFFIX, regex=True)
            if larger.any():
                fidelity = ev[larger & (ev["status"] == "ok")]
                larger_runs.append(pd.DataFrame({
                    "fingerprint": d.loc[fidelity["dataset_id"], "fingerprint"].to_numpy(),
                    "config": c.loc[fidelity["config_id"], "key"].to_numpy(),
                    "rows": fidelity["protocol"].str.extract(ROWS_SUFFIX)[0].astype(int)
                    .to_numpy(),
                    "score": fidelity["score"].to_numpy(), "origin": origin}))
                ev = ev[~larger]
            if len(ev):
                ev = ev.assign(fingerprint=d.loc[ev["dataset_id"], "fingerprint"].to_numpy(),
                               config=c.loc[ev["config_id"], "key"].to_numpy())
                evaluations.append(ev[["fingerprint", "config", "status", "score"]]
                                   .assign(origin=origin))
        dataset_frame = (pd.concat(datasets).drop_duplicates("fingerprint", keep="first")
                         .set_index("fingerprint"))
        dataset_frame["family"] = merge_duplicate_families(dataset_frame)
        config_frame = pd.concat(configs).drop_duplicates("key").set_index("key")
        config_frame["params"] = [json.loads(p) for p in config_frame.pop("params_json")]
        if features:
            long = pd.concat(features).drop_duplicates(["fingerprint", "name"], keep="last")
            wide = long.pivot(index="fingerprint", columns="name", values="value")
        else:
            wide = pd.DataFrame(index=pd.Index([], name="fingerprint"))
        wide = wide.reindex(dataset_frame.index).astype(float)
        evaluation = (pd.concat(evaluations) if evaluations else
                      pd.DataFrame(columns=["fingerprint", "config", "status", "score",
                                            "origin"]))
        evaluation = evaluation.drop_duplicates(["fingerprint", "config"], keep="last")
        # a dataset recorded without meta-features (all NaN, or none at all) would sit at
        # the centre of the meta-feature space, the scalers imputing it there, and be
        # everyone's neighbour: its evaluations stay stored but are left out of the
        # matrices every meta-learner learns from until its meta-features arrive
        described = set(wide.index[wide.notna().any(axis=1)])
        ok = evaluation[(evaluation["status"] == "ok") & evaluation["score"].notna()]
        knowledge = cls(dataset_frame, wide, config_frame,
                        runs=ok[["fingerprint", "config", "score", "origin"]]
                        .reset_index(drop=True))
        if larger_runs:
            knowledge.larger_runs = pd.concat(larger_runs, ignore_index=True)
        knowledge.matrices = _task_matrices(
            dataset_frame, config_frame,
            evaluation[evaluation["fingerprint"].isin(described)])
        return knowledge

    @property
    def undescribed(self) -> list[str]:
        """Fingerprints of datasets without meta-features, which no meta-learner uses."""
        return list(self.metafeatures.index[self.metafeatures.isna().all(axis=1)])

    def without(self, families: set[str] | None = None,
                fingerprints: set[str] | None = None) -> MetaKnowledge:
        """A copy without some datasets (for leave-one-dataset-out evaluation)."""
        drop = np.zeros(len(self.datasets), dtype=bool)
        if families:
            drop |= self.datasets["family"].isin(families).to_numpy()
        if fingerprints:
            drop |= self.datasets.index.isin(list(fingerprints))
        kept = self.datasets.loc[~drop]
        keep_set = set(kept.index)
        matrices = {task: m.subset(np.array([d in keep_set for d in m.datasets], dtype=bool))
                    for task, m in self.matrices.items()}
        runs = self.runs[self.runs["fingerprint"].isin(keep_set)]
        larger = self.larger_runs[self.larger_runs["fingerprint"].isin(keep_set)]
        return MetaKnowledge(kept, self.metafeatures.loc[kept.index], self.configs, matrices,
                             runs, larger)

    def origins(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per task and origin (``shipped``, ``user``): datasets with successful runs, those
        runs, and how many of the datasets lend to others (in the matrices) rather than
        only to their own data asked again.

        Example:
            >>> load_knowledge(user_db="my.sqlite").origins()  # doctest: +SKIP
            {'classification': {'shipped': {'datasets': 145, 'evaluations': 21855,
             'lending': 145}, 'user': {'datasets': 4, 'evaluations': 81, 'lending': 1}}, ...}
        """
        task_of = self.datasets["task"]
        runs = self.runs.assign(task=self.runs["fingerprint"].map(task_of))
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (task, origin), group in runs.groupby(["task", "origin"]):
            lending = set(self.matrices[task].datasets) if task in self.matrices else set()
            fingerprints = set(group["fingerprint"])
            out.setdefault(str(task), {})[str(origin)] = {
                "datasets": len(fingerprints), "evaluations": len(group),
                "lending": len(fingerprints & lending)}
        return out

    def config(self, key: str) -> dict[str, Any]:
        row = self.configs.loc[key]
        return {"algorithm": row["algorithm"], "params": dict(row["params"])}

    def matrix(self, task: str) -> TaskMatrix:
        if task not in self.matrices or not self.matrices[task].datasets:
            raise MetaDBError(
                f"The meta-database holds no evaluated {task} dataset, so there is nothing to "
                "learn from. Build or import one (`automl-meta db build` / `db import`)."
            )
        return self.matrices[task]


def merge_duplicate_families(datasets: pd.DataFrame) -> pd.Series:
    """Families joined wherever two datasets share task, row and feature counts.

    PMLB holds the same data under several names (``pima`` / ``diabetes``, ``vote`` /
    ``house-votes-84``, ``195_auto_price`` / ``207_autoPrice``, ...), which a name-based
    family misses; holding one out while its copy stays would flatter every meta-learner.
    The same shape is taken as a copy: this may also join a few unrelated datasets, which
    only makes leave-one-dataset-out stricter.
    """
    parent: dict[str, str] = {f: f for f in datasets["family"]}

    def root(family: str) -> str:
        while parent[family] != family:
            family = parent[family]
        return family

    for _, group in datasets.groupby(["task", "n_rows", "n_features"]):
        roots = sorted({root(f) for f in group["family"]})
        for other in roots[1:]:
            parent[other] = roots[0]
    return datasets["family"].map(root)


def whole_rows(evidence: np.ndarray) -> np.ndarray:
    """Which datasets, by their ``evidence``, ran (most of) the grid, as a mask (all, when
    none did): those a learner's shape is fitted on (feature scales and weights, trees,
    networks, hedging), which a partial row would reshape while counting for little.

    Example:
        >>> whole_rows(np.array([1.0, 0.02, 0.8])).tolist()
        [True, False, True]
    """
    whole = np.asarray(evidence) >= FULL_EVIDENCE
    return whole if whole.any() else np.ones(len(whole), dtype=bool)


def _task_matrices(datasets: pd.DataFrame, configs: pd.DataFrame,
                   evaluation: pd.DataFrame) -> dict[str, TaskMatrix]:
    matrices: dict[str, TaskMatrix] = {}
    task_of = datasets["task"]
    for task in ("classification", "regression"):
        ev = evaluation[evaluation["fingerprint"].map(task_of) == task]
        if ev.empty:
            continue
        raw = ev.assign(score=np.where(ev["status"] == "ok", ev["score"], np.nan))
        table = raw.pivot(index="fingerprint", columns="config", values="score")
        evaluated = ev.pivot(index="fingerprint", columns="config", values="status")
        table = table.reindex(columns=sorted(table.columns))
        evaluated = evaluated.reindex(index=table.index, columns=table.columns).notna()
        values = table.to_numpy(dtype=float)
        done = evaluated.to_numpy()
        anchors = grid_configurations(done)
        ran = (done & anchors[None, :]).sum(axis=1)
        grid_size = max(int(anchors.sum()), 1)
        normalised = normalise(values, done, anchors)
        partial = ran < FULL_GRID_SHARE * grid_size
        evidence = np.where(partial, (ran / grid_size) ** 2, 1.0)
        if partial.any() and (~partial).any():
            normalised[partial] = calibrate_partial_rows(values[partial], done[partial],
                                                         normalised[~partial], anchors)
        # a dataset that ran too few grid configurations, or whose scores the grid cannot
        # place, lends nothing to other datasets; its runs stay in ``MetaKnowledge.runs``,
        # so the same data asked again finds them. A partial one counts by the square of
        # the share of the grid it ran: a search's trials chosen around its best place the
        # rest of the grid less surely than the grid itself does.
        keep = (ran >= max(min(MIN_ANCHORS, grid_size), 1)) & np.isfinite(normalised).any(axis=1)
        if not keep.any():
            continue  # nothing of this task lends to others yet
        matrices[task] = TaskMatrix(
            task, list(table.index[keep]), list(table.columns), values[keep],
            normalised[keep], evidence[keep], anchors)
    return matrices


def calibrate_partial_rows(raw: np.ndarray, evaluated: np.ndarray, full: np.ndarray,
                           anchors: np.ndarray) -> np.ndarray:
    """Normalised scores of datasets that ran part of the grid, on the full rows' scale.

    A full row's normalised scores are, configuration by configuration, close to their
    mean over the full rows (``typical``). A partial row is placed on that scale by the
    least-squares line ``raw = floor + spread * typical`` over the grid configurations it
    ran; a row whose line does not fit (fewer than ``MIN_ANCHORS`` points, a spread that is
    not positive, or R² under ``MIN_CALIBRATION_R2``) gets no normalised scores (all NaN)
    and so lends nothing.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = np.nanmean(full, axis=0)
    out = np.full(raw.shape, np.nan)
    for i in range(raw.shape[0]):
        points = anchors & np.isfinite(raw[i]) & np.isfinite(typical)
        if points.sum() < MIN_ANCHORS:
            continue
        x, y = typical[points], raw[i, points]
        if np.ptp(x) <= 1e-12:
            continue
        spread, floor = np.polyfit(x, y, 1)
        fitted = floor + spread * x
        total = ((y - y.mean()) ** 2).sum()
        r2 = 1.0 - ((y - fitted) ** 2).sum() / total if total > 1e-12 else 0.0
        if spread <= 1e-12 or r2 < MIN_CALIBRATION_R2:
            continue
        row = np.clip((raw[i] - floor) / spread, 0.0, 1.0)
        row = np.where(np.isnan(raw[i]) & evaluated[i], 0.0, row)
        out[i] = np.where(evaluated[i], row, np.nan)
    return out


def grid_configurations(evaluated: np.ndarray) -> np.ndarray:
    """Which configurations (columns) form the common grid: those evaluated on at least
    ``ANCHOR_SHARE`` of the datasets (rows), and on at least three when there are three.

    Example:
        >>> done = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=bool)
        >>> grid_configurations(done).tolist()
        [True, False, False]
    """
    n_rows = evaluated.shape[0]
    needed = min(n_rows, max(3, int(np.ceil(ANCHOR_SHARE * n_rows))))
    return evaluated.sum(axis=0) >= max(needed, 1)


def normalise(raw: np.ndarray, evaluated: np.ndarray,
              anchors: np.ndarray | None = None) -> np.ndarray:
    """Per row: (score - floor) / (best - floor) clipped to [0, 1], on the grid's scale.

    ``floor`` comes from the row's ``anchors`` (the grid configurations; all configurations
    when not given): a search that tried only configurations near its own best would
    otherwise put its floor among good scores and spread them over [0, 1], whatever they
    scored. ``best`` is the row's best of all, so a configuration that beats the whole grid
    there is 1.0 and the grid's best below it. The floor is the 10th percentile rather than
    the minimum, so one disastrous configuration (an R² of -1e6) does not squash every
    other score towards 1. A failed evaluation counts as 0; a never evaluated cell stays
    NaN.
    """
    reference = raw if anchors is None else np.where(anchors[None, :], raw, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(np.where(np.isnan(raw), -np.inf, raw), axis=1, keepdims=True)
        worst = np.nanpercentile(reference, FLOOR_PERCENTILE, axis=1, keepdims=True)
        worst = np.where(np.isnan(worst), best, worst)
        spread = best - worst
        # a row whose evaluated configurations all score the same: each is its best known
        out = np.where(spread > 1e-12, (raw - worst) / np.where(spread > 1e-12, spread, 1.0),
                       1.0)
    out = np.where(np.isnan(raw) & evaluated, 0.0, out)
    out = np.where(evaluated, out, np.nan)
    return np.clip(out, 0.0, 1.0)


def load_knowledge(shipped: str | Path | None = None, user_db: Any = None,
                   include_shipped: bool = True) -> MetaKnowledge:
    """The knowledge of the shipped bundle plus a user store (a MetaDB, URL, or None).

    Example:
        >>> knowledge = load_knowledge(user_db="sqlite:///my_store.db")  # doctest: +SKIP
        >>> shipped_only = load_knowledge(user_db=False)  # doctest: +SKIP
        >>> len(shipped_only.datasets)  # doctest: +SKIP
    """
    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._bundle import read_bundle_tables

    tables, origins = [], []
    bundle = Path(shipped) if shipped is not None else shipped_meta_db_dir()
    if include_shipped and (bundle / "manifest.json").is_file():
        tables.append(read_bundle_tables(bundle))
        origins.append("shipped")
    if user_db is not False:
        store = user_db if isinstance(user_db, MetaDB) else MetaDB(user_db or user_db_url())
        tables.append({name: store.table(name) for name in
                       ("dataset", "metafeature", "config", "evaluation")})
        origins.append("user")
    if not tables:
        raise MetaDBError("No meta-knowledge found: the shipped meta_db/ is missing and no "
                          "user store was given.")
    return MetaKnowledge.from_tables(tables, origins)
