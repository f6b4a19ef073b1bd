"""The meta-knowledge a benchmarked dataset may use, and the learners fitted on it.

A dataset the meta-database already holds is evaluated leave-one-dataset-out, as in
DESIGN.md: the meta-learners that advise on it are fitted without it *and without its
whole family* (a PMLB family shares a generator or a source, so a sibling would leak the
answer). A dataset new to the meta-database uses all of it.

Fast learners (``knn``, ``portfolio``) are fitted once per held-out family. Slow ones
(``ranker``, ``neural``) use the grouped shortcut of :mod:`automl_meta.metalearners.lodo`: the
families are split into K groups and a held-out dataset is advised by the fit without its
whole group. That never trains on the held-out family, only on fewer others, so it is a
pessimistic shortcut. Every fit is cached for the run.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl_meta.config import shipped_meta_db_dir
from automl_meta.metalearners import (
    LEARNERS,
    MetaKnowledge,
    MetaLearner,
    load_knowledge,
    load_learner,
)

# groups of families for the slow learners: each learner class's ``lodo_groups`` (a live
# view of the registry; `db train`'s leave-one-out evaluation uses the same numbers)
SLOW_LEARNER_GROUPS = LEARNERS.slow_groups
NEW_DATASET = "all"  # the exclusion key of a dataset the meta-database does not hold


@dataclass(frozen=True)
class Exclusion:
    """What the advice for one dataset must not have seen.

    ``family`` is ``None`` for a dataset new to the meta-database (nothing is held out).
    """

    in_metadb: bool
    family: str | None = None

    def key(self, strategy: str, families: list[str]) -> str:
        """The cache key of ``strategy``'s fit for this exclusion."""
        if self.family is None:
            return NEW_DATASET
        groups = SLOW_LEARNER_GROUPS.get(strategy)
        if groups is None:
            return f"family:{self.family}"
        return f"group:{group_of(self.family, families, groups)}/{groups}"


def group_of(family: str, families: list[str], groups: int) -> int:
    """The group of ``family`` among the sorted ``families`` (lodo.py's assignment)."""
    ordered = sorted(families)
    position = ordered.index(family) if family in ordered else len(ordered)
    return position % groups


@dataclass
class Advice:
    """Everything meta-learned that one dataset's methods may use (picklable for workers).

    ``recommender`` answers :func:`~automl_meta.recommend` (pass it as ``db=``) from the
    knowledge without the held-out family; ``neural`` is the neural learner fitted the same
    way (``None`` when not asked for or not available, with the reason in ``unavailable``).
    """

    exclusion: Exclusion
    recommender: Any = None
    neural: Any = None
    unavailable: dict[str, str] | None = None


class MetaContext:
    """The meta-knowledge of a benchmark run and a cache of learners per exclusion.

    Example:
        >>> context = MetaContext.load()  # doctest: +SKIP
        >>> exclusion = context.exclusion("1027_ESL", fingerprint, "regression")  # doctest: +SKIP
        >>> context.advice(exclusion, needs={"recommender"}).recommender  # doctest: +SKIP
    """

    def __init__(self, knowledge: MetaKnowledge, auto_strategy: str = "knn",
                 saved_learners: Path | None = None) -> None:
        self.knowledge = knowledge
        self.auto_strategy = auto_strategy
        self.saved_learners = saved_learners
        self.families = sorted(knowledge.datasets["family"].astype(str).unique())
        self._learners: dict[tuple[str, str], MetaLearner] = {}
        self._knowledge: dict[str, MetaKnowledge] = {}

    @classmethod
    def load(cls, db: str | None = None, shipped: str | Path | None = None) -> MetaContext:
        """The shipped bundle, with the store ``db`` layered over it when given.

        The store is only read. Without ``db`` the saved learners of the bundle advise the
        datasets new to it (they were trained on exactly that knowledge).
        """
        from automl_meta.metadb import MetaDB  # sqlalchemy

        bundle = Path(shipped) if shipped is not None else shipped_meta_db_dir()
        store: Any = False if db is None else MetaDB(db, create=False)
        knowledge = load_knowledge(bundle, store,
                                   include_shipped=(bundle / "manifest.json").is_file())
        learners_dir = bundle / "learners"
        auto = "knn"
        strategy_file = learners_dir / "strategy.json"
        if strategy_file.is_file():
            auto = json.loads(strategy_file.read_text()).get("auto", auto)
        saved = learners_dir if db is None and learners_dir.is_dir() else None
        return cls(knowledge, auto_strategy=auto, saved_learners=saved)

    def exclusion(self, name: str, fingerprint: str, task: str) -> Exclusion:
        """Whether the meta-database holds this dataset (by content, else by name and task),
        and the family to hold out while it is evaluated."""
        datasets = self.knowledge.datasets
        if fingerprint in datasets.index:
            return Exclusion(True, str(datasets.loc[fingerprint, "family"]))
        same = datasets[(datasets["name"] == name) & (datasets["task"] == task)]
        if len(same):
            return Exclusion(True, str(same["family"].iloc[0]))
        return Exclusion(False, None)

    def guess_exclusion(self, name: str, task: str | None) -> Exclusion:
        """The exclusion by name alone (before a dataset is loaded), to fit slow learners
        ahead of the run; :meth:`exclusion` decides once the content is known."""
        datasets = self.knowledge.datasets
        same = datasets[datasets["name"] == name]
        if task is not None:
            same = same[same["task"] == task]
        if len(same):
            return Exclusion(True, str(same["family"].iloc[0]))
        return Exclusion(False, None)

    def knowledge_for(self, exclusion: Exclusion, strategy: str | None = None) -> MetaKnowledge:
        """The knowledge the advice may use (for a slow ``strategy``: without its group)."""
        key = exclusion.key(strategy or "", self.families)
        if key not in self._knowledge:
            if exclusion.family is None:
                self._knowledge[key] = self.knowledge
            elif key.startswith("group:"):
                groups = SLOW_LEARNER_GROUPS[strategy or ""]
                group = group_of(exclusion.family, self.families, groups)
                left_out = {f for f in self.families
                            if group_of(f, self.families, groups) == group}
                self._knowledge[key] = self.knowledge.without(families=left_out)
            else:
                self._knowledge[key] = self.knowledge.without(families={exclusion.family})
        return self._knowledge[key]

    def learner(self, strategy: str, exclusion: Exclusion) -> MetaLearner:
        """``strategy``'s learner fitted for ``exclusion`` (cached for the run)."""
        key = (strategy, exclusion.key(strategy, self.families))
        if key not in self._learners:
            self._learners[key] = self._saved(strategy, exclusion) or \
                _new_learner(strategy).fit(self.knowledge_for(exclusion, strategy))
        return self._learners[key]

    def missing_fits(self, exclusions: list[Exclusion],
                     strategies: set[str]) -> list[tuple[str, Exclusion]]:
        """The (strategy, exclusion) fits these exclusions need that are not cached yet,
        one per cache key (to fit ahead with :meth:`learner`)."""
        wanted: dict[tuple[str, str], Exclusion] = {}
        for exclusion in exclusions:
            for strategy in sorted(strategies):
                key = (strategy, exclusion.key(strategy, self.families))
                if key not in self._learners:
                    wanted.setdefault(key, exclusion)
        return [(strategy, exclusion) for (strategy, _), exclusion in wanted.items()]

    def slow_strategies(self, needs: set[str]) -> set[str]:
        """The slow learners that advice for ``needs`` fits (worth fitting ahead)."""
        strategies = set()
        if "recommender" in needs and self.auto_strategy in SLOW_LEARNER_GROUPS:
            strategies.add(self.auto_strategy)
        if "neural" in needs and neural_unavailable() is None:
            strategies.add("neural")
        return strategies

    def _saved(self, strategy: str, exclusion: Exclusion) -> MetaLearner | None:
        if exclusion.family is not None or self.saved_learners is None:
            return None
        path = self.saved_learners / f"{strategy}.json"
        if not path.is_file():
            return None
        return load_learner(path)

    def advice(self, exclusion: Exclusion, needs: set[str]) -> Advice:
        """The advice for one dataset: a recommender and/or the neural learner."""
        from automl_meta.advice._recommend import Recommender

        advice = Advice(exclusion, unavailable={})
        if "recommender" in needs:
            knowledge = self.knowledge_for(exclusion)
            strategies = {self.auto_strategy, "portfolio"}
            fitted = {s: self.learner(s, exclusion) for s in sorted(strategies)}
            # a held-out dataset must not come back as a near-copy under another family
            advice.recommender = Recommender(knowledge, learners_dir=None,
                                             auto_strategy=self.auto_strategy,
                                             learners=fitted,
                                             recall=exclusion.family is None)
        if "neural" in needs:
            reason = neural_unavailable()
            if reason is None:
                advice.neural = self.learner("neural", exclusion)
            else:
                advice.unavailable = {"neural": reason}
        return advice


def _new_learner(strategy: str) -> MetaLearner:
    learner_class = LEARNERS[strategy]
    # no progress display of a learner's own inside the benchmark's
    quiet = "progress" in inspect.signature(learner_class).parameters
    return learner_class(progress=False) if quiet else learner_class()


def neural_unavailable() -> str | None:
    """Why the neural learner cannot run here (``None`` when it can)."""
    missing = [package for package in LEARNERS["neural"].requires
               if importlib.util.find_spec(package) is None]
    return f"{', '.join(missing)} is not installed (pip install {' '.join(missing)})" \
        if missing else None
