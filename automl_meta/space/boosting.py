"""LightGBM, XGBoost and CatBoost as scikit-learn estimators that save without pickle.

Each estimator trains the library's own model with native categorical handling (the
pipeline ordinal-encodes categorical columns first and passes their positions as
``categorical_features``), one thread unless ``n_jobs`` says otherwise, and keeps the
trained model only in the library's own serialised format (``model_``: LightGBM's model
text, XGBoost's UBJSON, CatBoost's ``cbm`` bytes). Pickling, copying and skops therefore
see plain bytes, never a C handle; the live booster is rebuilt from ``model_`` on first use.

The number of boosting rounds is a searched hyperparameter (``n_estimators`` /
``iterations``) rather than early stopping on a holdout cut from the training fold: at the
meta-database's 1,000 rows a holdout would cost a tenth of the data, and a fixed round count
makes a configuration's cost and score reproducible (FLAML searches it the same way).

Example:
    >>> import numpy as np
    >>> X = np.column_stack([np.arange(60) % 3, np.linspace(0, 1, 60)])
    >>> y = (X[:, 1] > 0.5).astype(int)
    >>> model = LightGBMClassifier({"n_estimators": 20, "min_child_samples": 5},
    ...                            categorical_features=[0]).fit(X, y)
    >>> model.predict(X[:2]).tolist(), model.classes_.tolist()
    ([0, 0], [0, 1])
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from automl_meta.errors import ArtifactError


class _Boosted(BaseEstimator):
    """Shared fit/predict plumbing; subclasses implement ``_train`` and ``_raw_predict``."""

    classifier: ClassVar[bool] = False

    def __init__(self, params: dict[str, Any] | None = None,
                 categorical_features: list[int] | None = None, random_state: int = 0,
                 n_jobs: int = 1) -> None:
        self.params = params
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> _Boosted:
        X = _as_float_matrix(X)
        y = np.asarray(y)
        if len(y) == 0:
            raise ValueError("the training data has no rows.")
        if self.classifier:
            self.classes_, y = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError("the training data holds a single class; a classifier "
                                 "needs at least two.")
        self.n_features_in_ = X.shape[1]
        self.model_ = bytes(self._train(X, y, dict(self.params or {})))
        self._booster = None
        return self

    def predict(self, X: Any) -> np.ndarray:
        if not self.classifier:
            return self._raw(X).reshape(-1)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _probabilities(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        if raw.ndim == 1 or raw.shape[1] == 1:
            positive = raw.reshape(-1)
            return np.column_stack([1.0 - positive, positive])
        return raw

    def _raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        if getattr(self, "_booster", None) is None:
            try:
                self._booster = self._load(self.model_)
            except Exception as exc:  # the library's own parser refused the bytes
                raise ArtifactError(
                    f"The saved {type(self).__name__} model cannot be read ({exc}). Expected "
                    "the bytes its fit wrote; the file was changed or comes from another "
                    "library version: refit the model.") from exc
        return np.asarray(self._raw_predict(self._booster, _as_float_matrix(X)), dtype=float)

    @property
    def _categorical(self) -> list[int]:
        return [int(i) for i in (self.categorical_features or [])]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_booster", None)  # a C handle: rebuilt from model_ on first use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._booster = None

    def _train(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> bytes:
        raise NotImplementedError

    def _load(self, model: bytes) -> Any:
        raise NotImplementedError

    def _raw_predict(self, booster: Any, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _ClassifierMixin(ClassifierMixin):
    classifier: ClassVar[bool] = True

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        return self._probabilities(X)  # type: ignore[attr-defined]


class _LightGBM(_Boosted):
    def _train(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> bytes:
        import lightgbm

        cls = lightgbm.LGBMClassifier if self.classifier else lightgbm.LGBMRegressor
        if params.get("subsample", 1.0) < 1.0:
            params.setdefault("subsample_freq", 1)
        model = cls(**params, random_state=self.random_state, n_jobs=self.n_jobs, verbose=-1)
        categorical = self._categorical or "auto"
        model.fit(_negatives_as_missing(X, self._categorical), y,
                  categorical_feature=categorical)
        return model.booster_.model_to_string().encode()

    def _load(self, model: bytes) -> Any:
        import lightgbm

        return lightgbm.Booster(model_str=model.decode())

    def _raw_predict(self, booster: Any, X: np.ndarray) -> np.ndarray:
        return booster.predict(_negatives_as_missing(X, self._categorical),
                               num_threads=self.n_jobs)


class _XGBoost(_Boosted):
    def _feature_types(self, n_features: int) -> list[str]:
        categorical = set(self._categorical)
        return ["c" if i in categorical else "q" for i in range(n_features)]

    def _train(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> bytes:
        import xgboost

        cls = xgboost.XGBClassifier if self.classifier else xgboost.XGBRegressor
        model = cls(**params, tree_method="hist", enable_categorical=True,
                    feature_types=self._feature_types(X.shape[1]),
                    random_state=self.random_state, n_jobs=self.n_jobs, verbosity=0)
        model.fit(_negatives_as_missing(X, self._categorical), y)
        return bytes(model.get_booster().save_raw("ubj"))

    def _load(self, model: bytes) -> Any:
        import xgboost

        booster = xgboost.Booster(model_file=bytearray(model))
        booster.set_param({"nthread": self.n_jobs})
        return booster

    def _raw_predict(self, booster: Any, X: np.ndarray) -> np.ndarray:
        import xgboost

        matrix = xgboost.DMatrix(_negatives_as_missing(X, self._categorical),
                                 feature_types=self._feature_types(X.shape[1]),
                                 enable_categorical=True, nthread=self.n_jobs)
        return booster.predict(matrix)


class _CatBoost(_Boosted):
    def _pool(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        import catboost
        import pandas as pd

        frame = pd.DataFrame(X)
        for column in self._categorical:
            # CatBoost reads categories as integers or strings; missing and unseen are -1
            frame[column] = np.nan_to_num(frame[column].to_numpy(), nan=-1.0).astype(np.int64)
        return catboost.Pool(frame, y, cat_features=self._categorical or None)

    def _train(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> bytes:
        import catboost

        cls = catboost.CatBoostClassifier if self.classifier else catboost.CatBoostRegressor
        # CatBoost's target statistics over combinations of categoricals cost 40x the
        # training time on a 26-categorical dataset; one-hot up to 32 levels (as the pipeline
        # does for other models) and single-feature statistics above that
        params.setdefault("one_hot_max_size", 32)
        params.setdefault("max_ctr_complexity", 1)
        model = cls(**params, random_seed=self.random_state, thread_count=self.n_jobs,
                    verbose=False, allow_writing_files=False)
        model.fit(self._pool(X, y))
        return model._serialize_model()

    def _load(self, model: bytes) -> Any:
        import catboost

        return catboost.CatBoost().load_model(blob=model)

    def _raw_predict(self, booster: Any, X: np.ndarray) -> np.ndarray:
        kind = "Probability" if self.classifier else "RawFormulaVal"
        return booster.predict(self._pool(X), prediction_type=kind, thread_count=self.n_jobs)


class LightGBMClassifier(_ClassifierMixin, _LightGBM):
    """LightGBM gradient boosting for classification (``params``: LightGBM's own names)."""


class LightGBMRegressor(RegressorMixin, _LightGBM):
    """LightGBM gradient boosting for regression (``params``: LightGBM's own names)."""


class XGBoostClassifier(_ClassifierMixin, _XGBoost):
    """XGBoost (hist) for classification (``params``: XGBoost's own names)."""


class XGBoostRegressor(RegressorMixin, _XGBoost):
    """XGBoost (hist) for regression (``params``: XGBoost's own names)."""


class CatBoostClassifier(_ClassifierMixin, _CatBoost):
    """CatBoost for classification (``params``: CatBoost's own names)."""


class CatBoostRegressor(RegressorMixin, _CatBoost):
    """CatBoost for regression (``params``: CatBoost's own names)."""


def _as_float_matrix(X: Any) -> np.ndarray:
    return np.asarray(X, dtype=float)


def _negatives_as_missing(X: np.ndarray, categorical: list[int]) -> np.ndarray:
    """The ordinal encoder codes an unseen category -1; the libraries read a negative
    category as an error (XGBoost) or as missing (LightGBM): make it missing for both."""
    if not categorical:
        return X
    X = X.copy()
    block = X[:, categorical]
    block[block < 0] = np.nan
    X[:, categorical] = block
    return X
