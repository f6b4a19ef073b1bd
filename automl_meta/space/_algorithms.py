"""The algorithms of the search space: estimator factory, hyperparameters, default, needs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from automl_meta._support.safe_skops import declare_saved_model_types
from automl_meta.errors import ConfigurationError
from automl_meta.space._params import Param, choice, int_range, log_float, uniform

SVM_MAX_ROWS = 5000
_EXACT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class Algorithm:
    """One learning algorithm for one task.

    ``factory(params, random_state)`` returns an unfitted scikit-learn estimator;
    ``params`` lists the searched hyperparameters (conditionals allowed); ``default`` is a
    configuration inside that space; ``scale`` and ``encoding`` say what preprocessing the
    estimator needs (``"onehot"`` or ``"ordinal"`` for categorical columns).

    What it needs and what it saves are declared here, and read everywhere else:

    - ``requires``: the importable packages it needs beyond scikit-learn (``("torch",)``);
    - ``preload``: those of them heavy enough that the evaluation engine imports them once
      in the parent before it forks a worker, and in a warm worker before the work;
    - ``saved_types``: the exact ``module.Class`` names its fitted estimator holds when a
      model is saved with skops (``fit --out``), beyond the pipeline's own. A saved model
      loads only when every name in it is one of these or a fixed one of
      :data:`automl_meta._support.safe_skops.SAVED_MODEL`; exact names, never a prefix.

    Example:
        >>> from automl_meta.space import get_algorithm
        >>> knn = get_algorithm("knn", "classification")
        >>> knn.default, knn.scale
        ({'n_neighbors': 5, 'weights': 'uniform', 'p': 2}, True)
        >>> type(knn.factory(knn.default, 0).estimator).__name__
        'KNeighborsClassifier'
    """

    name: str
    task: str
    factory: Callable[[dict[str, Any], int], Any]
    params: tuple[Param, ...]
    default: dict[str, Any]
    scale: bool = False
    encoding: str = "onehot"
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    requires: tuple[str, ...] = field(default_factory=tuple)
    preload: tuple[str, ...] = field(default_factory=tuple)
    saved_types: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        extra = [p for p in self.preload if p not in self.requires]
        if extra:
            raise ConfigurationError(
                f"Algorithm {self.name!r}: preload {extra} are not in requires "
                f"{list(self.requires)}; preload only packages the algorithm requires.")
        wrong = [t for t in self.saved_types if not _EXACT_NAME.fullmatch(t)]
        if wrong:
            raise ConfigurationError(
                f"Algorithm {self.name!r}: saved_types {wrong} are not exact "
                "'module.Class' names; list every class the fitted estimator holds, in full "
                "(no prefix, no wildcard).")


def _linear_classifier(p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=300,
                              random_state=seed)


def _linear_regressor(p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import ElasticNet

    return ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"], max_iter=2000,
                      random_state=seed)


def _knn(p: dict[str, Any], seed: int, classifier: bool) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    from automl_meta.space._capped import NeighborsCappedClassifier, NeighborsCappedRegressor

    if classifier:
        return NeighborsCappedClassifier(KNeighborsClassifier(
            n_neighbors=p["n_neighbors"], weights=p["weights"], p=p["p"]))
    return NeighborsCappedRegressor(KNeighborsRegressor(
        n_neighbors=p["n_neighbors"], weights=p["weights"], p=p["p"]))


def _svm(p: dict[str, Any], seed: int, classifier: bool) -> Any:
    from sklearn.svm import SVC, SVR

    from automl_meta.space._capped import RowCappedClassifier, RowCappedRegressor

    gamma = p["gamma"] if p["gamma_mode"] == "value" else "scale"
    if classifier:
        inner = SVC(C=p["C"], gamma=gamma, class_weight=p["class_weight"], random_state=seed)
        return RowCappedClassifier(inner, max_rows=SVM_MAX_ROWS, random_state=seed)
    inner = SVR(C=p["C"], gamma=gamma, epsilon=p["epsilon"])
    return RowCappedRegressor(inner, max_rows=SVM_MAX_ROWS, random_state=seed)


def _forest(p: dict[str, Any], seed: int, classifier: bool, extra: bool) -> Any:
    from sklearn import ensemble

    name = ("ExtraTrees" if extra else "RandomForest") + ("Classifier" if classifier else
                                                          "Regressor")
    kwargs = dict(n_estimators=p["n_estimators"], max_features=p["max_features"],
                  min_samples_leaf=p["min_samples_leaf"], bootstrap=p["bootstrap"],
                  n_jobs=1, random_state=seed)
    if classifier:
        kwargs["class_weight"] = p["class_weight"]
    return getattr(ensemble, name)(**kwargs)


def _hist_gb(p: dict[str, Any], seed: int, classifier: bool) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if classifier else HistGradientBoostingRegressor
    return cls(learning_rate=p["learning_rate"], max_iter=p["max_iter"],
               max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
               l2_regularization=p["l2_regularization"], categorical_features="from_dtype",
               early_stopping=False, random_state=seed)


def _mlp(p: dict[str, Any], seed: int, classifier: bool) -> Any:
    from automl_meta.space.torch_mlp import TorchMLPClassifier, TorchMLPRegressor

    cls = TorchMLPClassifier if classifier else TorchMLPRegressor
    return cls(hidden_size=p["hidden_size"], n_layers=p["n_layers"], dropout=p["dropout"],
               learning_rate=p["learning_rate"], weight_decay=p["weight_decay"],
               batch_size=p["batch_size"], random_state=seed)


def _boosted(p: dict[str, Any], seed: int, library: str, classifier: bool) -> Any:
    from automl_meta.space import boosting

    cls = getattr(boosting, library + ("Classifier" if classifier else "Regressor"))
    return cls(params=dict(p), random_state=seed)


_CLASS_WEIGHT = choice("class_weight", [None, "balanced"])
_KNN = (int_range("n_neighbors", 1, 50, log=True), choice("weights", ["uniform", "distance"]),
        choice("p", [1, 2]))
_SVM = (log_float("C", 1e-2, 1e3), choice("gamma_mode", ["scale", "value"]),
        log_float("gamma", 1e-4, 1.0, condition=("gamma_mode", "value")))
_FOREST = (int_range("n_estimators", 50, 300, log=True), uniform("max_features", 0.05, 1.0),
           int_range("min_samples_leaf", 1, 20, log=True), choice("bootstrap", [True, False]))
_HGB = (log_float("learning_rate", 0.01, 0.5), int_range("max_iter", 50, 400, log=True),
        int_range("max_leaf_nodes", 4, 128, log=True),
        int_range("min_samples_leaf", 2, 100, log=True),
        log_float("l2_regularization", 1e-6, 10.0))
_MLP = (int_range("hidden_size", 16, 256, log=True), int_range("n_layers", 1, 3),
        uniform("dropout", 0.0, 0.5), log_float("learning_rate", 1e-4, 3e-2),
        log_float("weight_decay", 1e-6, 1e-2), choice("batch_size", [32, 64, 128, 256]))

# Spaces after FLAML's and AutoGluon's, bounded for trials at up to 10,000 rows: the round
# count is searched (no holdout early stopping; see automl_meta.space.boosting).
_LIGHTGBM = (int_range("n_estimators", 16, 1024, log=True), log_float("learning_rate", 0.005, 0.5),
             int_range("num_leaves", 4, 256, log=True),
             int_range("min_child_samples", 2, 128, log=True),
             uniform("colsample_bytree", 0.3, 1.0), uniform("subsample", 0.5, 1.0),
             log_float("reg_alpha", 1e-4, 10.0), log_float("reg_lambda", 1e-4, 10.0))
_XGBOOST = (int_range("n_estimators", 16, 1024, log=True), log_float("learning_rate", 0.005, 0.5),
            int_range("max_depth", 2, 12), log_float("min_child_weight", 0.01, 64.0),
            uniform("subsample", 0.5, 1.0), uniform("colsample_bytree", 0.3, 1.0),
            log_float("reg_alpha", 1e-4, 10.0), log_float("reg_lambda", 1e-3, 100.0))
# CatBoost's bagging_temperature is not searched: its default bootstrap (MVS) ignores it
# (identical predictions measured at 0, 1 and 2)
_CATBOOST = (int_range("iterations", 50, 1000, log=True), log_float("learning_rate", 0.01, 0.3),
             int_range("depth", 3, 8), log_float("l2_leaf_reg", 1.0, 30.0),
             log_float("random_strength", 0.1, 10.0))
# the libraries' own defaults, where the space can hold them
_LIGHTGBM_DEFAULT = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31,
                     "min_child_samples": 20, "colsample_bytree": 1.0, "subsample": 1.0,
                     "reg_alpha": 1e-4, "reg_lambda": 1e-4}
_XGBOOST_DEFAULT = {"n_estimators": 100, "learning_rate": 0.3, "max_depth": 6,
                    "min_child_weight": 1.0, "subsample": 1.0, "colsample_bytree": 1.0,
                    "reg_alpha": 1e-4, "reg_lambda": 1.0}
_CATBOOST_DEFAULT = {"iterations": 300, "learning_rate": 0.1, "depth": 6, "l2_leaf_reg": 3.0,
                     "random_strength": 1.0}
_BOOSTED = (("lightgbm", "LightGBM", _LIGHTGBM, _LIGHTGBM_DEFAULT),
            ("xgboost", "XGBoost", _XGBOOST, _XGBOOST_DEFAULT),
            ("catboost", "CatBoost", _CATBOOST, _CATBOOST_DEFAULT))

# The exact classes each fitted estimator holds in a skops file, by algorithm and task
# (found by saving each one; tests/contracts/test_algorithm_contract.py saves them again).
_SK = "sklearn."
_SAVED_TYPES: dict[tuple[str, bool], tuple[str, ...]] = {
    ("linear", True): (_SK + "linear_model._logistic.LogisticRegression",),
    ("linear", False): (_SK + "linear_model._coordinate_descent.ElasticNet",),
    ("knn", True): ("automl_meta.space._capped.NeighborsCappedClassifier",
                    _SK + "neighbors._classification.KNeighborsClassifier"),
    ("knn", False): ("automl_meta.space._capped.NeighborsCappedRegressor",
                     _SK + "neighbors._regression.KNeighborsRegressor"),
    ("svm", True): ("automl_meta.space._capped.RowCappedClassifier", _SK + "svm._classes.SVC"),
    ("svm", False): ("automl_meta.space._capped.RowCappedRegressor", _SK + "svm._classes.SVR"),
    ("random_forest", True): (_SK + "ensemble._forest.RandomForestClassifier",
                              _SK + "tree._classes.DecisionTreeClassifier"),
    ("random_forest", False): (_SK + "ensemble._forest.RandomForestRegressor",
                               _SK + "tree._classes.DecisionTreeRegressor"),
    ("extra_trees", True): (_SK + "ensemble._forest.ExtraTreesClassifier",
                            _SK + "tree._classes.ExtraTreeClassifier"),
    ("extra_trees", False): (_SK + "ensemble._forest.ExtraTreesRegressor",
                             _SK + "tree._classes.ExtraTreeRegressor"),
    ("hist_gb", True): (
        _SK + "ensemble._hist_gradient_boosting.gradient_boosting."
        "HistGradientBoostingClassifier",
        _SK + "_loss._loss.CyHalfBinomialLoss", _SK + "_loss._loss.CyHalfMultinomialLoss",
        _SK + "_loss.link.LogitLink", _SK + "_loss.link.MultinomialLogit",
        _SK + "_loss.loss.HalfBinomialLoss", _SK + "_loss.loss.HalfMultinomialLoss",
        _SK + "preprocessing._label.LabelEncoder"),
    ("hist_gb", False): (
        _SK + "ensemble._hist_gradient_boosting.gradient_boosting."
        "HistGradientBoostingRegressor",
        _SK + "_loss._loss.CyHalfSquaredError", _SK + "_loss.link.IdentityLink",
        _SK + "_loss.loss.HalfSquaredError"),
}
_NEIGHBOURS = (_SK + "neighbors._kd_tree.KDTree",
               _SK + "metrics._dist_metrics.EuclideanDistance64",
               _SK + "metrics._dist_metrics.ManhattanDistance64")
_TREES = (_SK + "tree._tree.Tree",)
# HistGradientBoosting's own binning and preprocessing (its check_array partial is one of
# the fixed names of SAVED_MODEL)
_HIST_GB = (_SK + "ensemble._hist_gradient_boosting.binning._BinMapper",
            _SK + "ensemble._hist_gradient_boosting.predictor.TreePredictor",
            _SK + "_loss.link.Interval",
            _SK + "preprocessing._function_transformer.FunctionTransformer")
_SHARED_TYPES = {"knn": _NEIGHBOURS, "random_forest": _TREES, "extra_trees": _TREES,
                 "hist_gb": _HIST_GB}


def _saved(name: str, classifier: bool) -> tuple[str, ...]:
    return _SAVED_TYPES[(name, classifier)] + _SHARED_TYPES.get(name, ())


_FOREST_DEFAULT = {"n_estimators": 100, "min_samples_leaf": 1, "bootstrap": True}
_HGB_DEFAULT = {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31,
                "min_samples_leaf": 20, "l2_regularization": 1e-6}
_MLP_DEFAULT = {"hidden_size": 64, "n_layers": 2, "dropout": 0.1, "learning_rate": 1e-3,
                "weight_decay": 1e-5, "batch_size": 64}
_KNN_DEFAULT = {"n_neighbors": 5, "weights": "uniform", "p": 2}


def _both_tasks() -> list[Algorithm]:
    algorithms: list[Algorithm] = []
    for task in ("classification", "regression"):
        clf = task == "classification"
        weight = (_CLASS_WEIGHT,) if clf else ()
        weight_default = {"class_weight": None} if clf else {}
        if clf:
            algorithms.append(Algorithm(
                "linear", task, _linear_classifier,
                (log_float("C", 1e-4, 1e4), _CLASS_WEIGHT), {"C": 1.0, "class_weight": None},
                scale=True, description="L2-regularised logistic regression",
                saved_types=_saved("linear", clf)))
        else:
            algorithms.append(Algorithm(
                "linear", task, _linear_regressor,
                (log_float("alpha", 1e-5, 10.0), uniform("l1_ratio", 0.0, 1.0)),
                {"alpha": 1e-3, "l1_ratio": 0.5}, scale=True,
                description="elastic-net linear regression", saved_types=_saved("linear", clf)))
        algorithms += [
            Algorithm("knn", task, lambda p, s, c=clf: _knn(p, s, c), _KNN, dict(_KNN_DEFAULT),
                      scale=True, description="k-nearest neighbours",
                      saved_types=_saved("knn", clf)),
            Algorithm("svm", task, lambda p, s, c=clf: _svm(p, s, c),
                      _SVM + (weight if clf else (log_float("epsilon", 1e-3, 1.0),)),
                      {"C": 1.0, "gamma_mode": "scale", **(weight_default if clf else
                                                            {"epsilon": 0.1})},
                      scale=True,
                      description=f"RBF-kernel SVM (trained on at most {SVM_MAX_ROWS} rows)",
                      saved_types=_saved("svm", clf)),
            Algorithm("random_forest", task, lambda p, s, c=clf: _forest(p, s, c, False),
                      _FOREST + weight,
                      {**_FOREST_DEFAULT, "max_features": 0.3 if clf else 1.0, **weight_default},
                      description="random forest", saved_types=_saved("random_forest", clf)),
            Algorithm("extra_trees", task, lambda p, s, c=clf: _forest(p, s, c, True),
                      _FOREST + weight,
                      {**_FOREST_DEFAULT, "max_features": 0.3 if clf else 1.0,
                       "bootstrap": False, **weight_default},
                      description="extremely randomised trees",
                      saved_types=_saved("extra_trees", clf)),
            Algorithm("hist_gb", task, lambda p, s, c=clf: _hist_gb(p, s, c), _HGB,
                      dict(_HGB_DEFAULT), encoding="ordinal",
                      description="histogram gradient boosting",
                      saved_types=_saved("hist_gb", clf)),
            Algorithm("mlp", task, lambda p, s, c=clf: _mlp(p, s, c), _MLP, dict(_MLP_DEFAULT),
                      scale=True, description="multi-layer perceptron in PyTorch",
                      requires=("torch",), preload=("torch",)),  # skops cannot hold it
        ]
    return algorithms


def _boosted_algorithms() -> list[Algorithm]:
    return [Algorithm(name, task, lambda p, s, lib=library, c=clf: _boosted(p, s, lib, c),
                      params, dict(default), encoding="ordinal", requires=(name,),
                      description=f"{library} gradient boosting (native categoricals)",
                      # the model is the library's own bytes (no C handle)
                      saved_types=(f"automl_meta.space.boosting.{library}"
                                   f"{'Classifier' if clf else 'Regressor'}",))
            for task, clf in (("classification", True), ("regression", False))
            for name, library, params, default in _BOOSTED]


# LightGBM, XGBoost and CatBoost. They come last in the registry: a grid's random
# configurations are seeded by the algorithm's position, so the seven before them sample
# what they sampled when these three were registered apart (meta-db v3's build did that).
BOOSTING: tuple[Algorithm, ...] = tuple(_boosted_algorithms())

REGISTRY: dict[tuple[str, str], Algorithm] = {
    (a.task, a.name): a for a in (*_both_tasks(), *BOOSTING)}


def register(algorithm: Algorithm) -> None:
    """Add ``algorithm`` to the search space (both tasks are separate registrations).

    That is all a new algorithm needs: sampling, evaluation, the meta-db build, the CLI's
    lists and the saved-model allowlist (its ``saved_types``) read this registry.

    Example:
        >>> from automl_meta.space import BOOSTING, register
        >>> register(BOOSTING[0])  # doctest: +SKIP
    """
    REGISTRY[(algorithm.task, algorithm.name)] = algorithm


def unregister(name: str, task: str | None = None) -> None:
    """Remove the algorithm ``name`` (of ``task``, default both) from the search space.

    Raises:
        ConfigurationError: when no such algorithm is registered.

    Example:
        >>> import dataclasses
        >>> from automl_meta.space import algorithms, get_algorithm, register
        >>> register(dataclasses.replace(get_algorithm("knn", "regression"), name="knn2"))
        >>> "knn2" in algorithms("regression")
        True
        >>> unregister("knn2")
        >>> "knn2" in algorithms("regression")
        False
    """
    keys = [key for key in REGISTRY if key[1] == name and task in (None, key[0])]
    if not keys:
        registered = sorted({n for _, n in REGISTRY})
        raise ConfigurationError(f"No algorithm {name!r} is registered"
                                 f"{f' for {task}' if task else ''}; registered: "
                                 f"{', '.join(registered)}.")
    for key in keys:
        del REGISTRY[key]


def register_boosting(names: tuple[str, ...] | list[str] | None = None) -> None:
    """Register LightGBM, XGBoost and CatBoost for both tasks, or those of them in ``names``.

    They are in the default space; this puts back what :func:`unregister` took out (the
    meta-db build calls it for the ones its settings name, in every worker).

    Example:
        >>> from automl_meta.space import algorithms, register_boosting
        >>> register_boosting(["lightgbm"])  # doctest: +SKIP
        >>> algorithms("regression")[-1]  # doctest: +SKIP
        'lightgbm'
    """
    for algorithm in BOOSTING:
        if names is None or algorithm.name in names:
            register(algorithm)


def declared_saved_types() -> Iterator[str]:
    """The ``saved_types`` of every registered algorithm and of the boosting ones (so a
    model saved after ``register_boosting()`` loads in a process that did not call it)."""
    for algorithm in (*REGISTRY.values(), *BOOSTING):
        yield from algorithm.saved_types


declare_saved_model_types(declared_saved_types)
