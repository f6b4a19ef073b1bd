"""The methods a benchmark can run, what each needs, and how its budget is counted.

``kind`` says how a method's budget is counted: ``trials`` (one row per trial budget, from
one run), ``seconds`` (one row at the wall-time budget) or ``once`` (one configuration, one
row at budget 1). ``needs`` names the meta-learned advice a method uses (fitted without
the evaluated dataset's family when the meta-database holds it); ``requires`` names the
packages of a peer: when one is missing, the method is reported ``skipped``, never faked;
``available`` says the same of a peer that lives in an environment of its own (AutoGluon,
see :mod:`automl_meta.harness.peers.autogluon`).

Each distinct search runs once. A method with ``same_as`` names another whose search it
repeats when ``same_if`` (given that method's outcomes on a dataset) says this run proves
it: when both are asked for on a dataset, the other runs first and this one's rows are its
rows, each marked ``copy_of`` in ``results.jsonl``, the summary and the report ("same
search as warm_tpe, not run twice"). When the proof fails, or the other method is not run
in the same pass, the method runs itself. ``meta_sampler`` is ``warm_tpe`` in this sense
under MetaSampler's current default (see :mod:`automl_meta.harness.searches`).

``baseline`` names the cold search one of ours is held against in the head-to-head records
(:mod:`automl_meta.harness.versus`; default: cold ``tpe`` over the whole space):
``lgbm_warm_tpe`` against ``lgbm_tpe``, the same TPE over the same LightGBM distributions
without the warm start.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from automl_meta.errors import ConfigurationError, did_you_mean
from automl_meta.harness import one_shot, searches
from automl_meta.harness.advice import neural_unavailable
from automl_meta.harness.peers import autogluon
from automl_meta.harness.trials import Outcome, RunContext

TRIALS, SECONDS, ONCE = "trials", "seconds", "once"
COPY_OF = "copy_of"  # a result row's field: the method whose search this row repeats


@dataclass(frozen=True)
class Method:
    """One benchmarked method."""

    name: str
    kind: str
    run: Callable[[RunContext], list[Outcome]]
    description: str
    needs: frozenset[str] = frozenset()
    requires: tuple[str, ...] = ()
    ours: bool = False
    same_as: str | None = None
    same_if: Callable[[Sequence[Outcome]], bool] | None = None
    available: Callable[[], str | None] | None = None
    baseline: str | None = None

    def repeats(self, outcomes: dict[str, list[Outcome]]) -> str | None:
        """The method whose outcomes (among ``outcomes``, by method) are provably this
        one's, or ``None`` when this method must run itself."""
        target = self.same_as
        if target is None or target not in outcomes or self.same_if is None:
            return None
        return target if self.same_if(outcomes[target]) else None

    def missing(self) -> str | None:
        """Why this method cannot run here (a missing package), or ``None``."""
        absent = [name for name in self.requires if importlib.util.find_spec(name) is None]
        if absent:
            return (f"needs {', '.join(absent)}, which is not installed: "
                    "pip install 'automl-meta[bench]'")
        if "neural" in self.needs:
            return neural_unavailable()
        if self.available is not None:
            return self.available()
        return None


_RECOMMENDER = frozenset({"recommender"})
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("hgb_default", ONCE, one_shot.hgb_default,
           "HistGradientBoosting at its default hyperparameters"),
    Method("random", TRIALS, searches.random_search, "random search over our space"),
    Method("tpe", TRIALS, searches.tpe_search, "cold Optuna TPE over our space"),
    Method("tpe_seconds", SECONDS, searches.tpe_seconds_search,
           "cold Optuna TPE over our space for the time budget"),
    Method("flaml_zeroshot", ONCE, one_shot.flaml_zeroshot,
           "FLAML zero-shot LightGBM (flaml.default)", requires=("flaml", "lightgbm")),
    Method("flaml_automl", SECONDS, one_shot.flaml_automl, "FLAML AutoML for the time budget",
           requires=("flaml", "lightgbm")),
    Method("autogluon", SECONDS, autogluon.autogluon_default,
           "AutoGluon at its default presets for the time budget, on one CPU",
           available=autogluon.unavailable),
    Method("autogluon_best", SECONDS, autogluon.autogluon_best,
           "AutoGluon presets='best_quality' for the time budget, on one CPU",
           available=autogluon.unavailable),
    Method("recommend_top1", ONCE, one_shot.recommend_top1,
           "the first recommendation of automl_meta.recommend", _RECOMMENDER, ours=True),
    Method("warm_tpe", TRIALS, searches.warm_tpe_search,
           "automl_meta.warm_start, then Optuna TPE", _RECOMMENDER, ours=True),
    Method("meta_sampler", TRIALS, searches.meta_sampler_search, "automl_meta.MetaSampler",
           _RECOMMENDER, ours=True, same_as="warm_tpe", same_if=searches.repeats_warm_tpe),
    Method("neural", TRIALS, searches.neural_search,
           "the neural meta-learner proposing every trial", frozenset({"neural"}), ours=True),
    Method("fit", SECONDS, one_shot.automl_fit, "automl_meta.fit for the time budget",
           _RECOMMENDER, ours=True),
    Method("lgbm_tpe", TRIALS, searches.lgbm_tpe_search,
           "cold Optuna TPE over LightGBM alone, under its own parameter names"),
    Method("lgbm_warm_tpe", TRIALS, searches.lgbm_warm_tpe_search,
           "automl_meta.warm_start(algorithm='lightgbm'), then Optuna TPE over LightGBM alone",
           _RECOMMENDER, ours=True, baseline="lgbm_tpe"),
)}
# what a benchmark runs when no methods are named (the others are asked for by name)
BY_NAME_ONLY = frozenset({"tpe_seconds", "autogluon", "autogluon_best", "lgbm_tpe",
                          "lgbm_warm_tpe"})
DEFAULT_METHODS = tuple(name for name in METHODS if name not in BY_NAME_ONLY)


def check_methods(names: Iterable[str]) -> list[str]:
    """The method names, checked and without repeats, in the order given."""
    chosen: list[str] = []
    for raw in names:
        name = str(raw).strip()
        if not name:
            continue
        if name not in METHODS:
            raise ConfigurationError(
                f"Unknown benchmark method {name!r}.{did_you_mean(name, list(METHODS))} "
                f"Expected some of {', '.join(METHODS)}.")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ConfigurationError(f"No benchmark method given; expected some of "
                                 f"{', '.join(METHODS)}.")
    return chosen


def budget_labels(method: Method, budgets: tuple[int, ...], seconds_label: str) -> list:
    """The budgets a method reports: every trial budget, the time budget, or 1."""
    if method.kind == TRIALS:
        return list(budgets)
    if method.kind == SECONDS:
        return [seconds_label]
    return [1]
