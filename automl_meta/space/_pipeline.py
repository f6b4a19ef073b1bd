"""``build``: a ready scikit-learn Pipeline for a configuration and a dataset."""

from __future__ import annotations

from typing import Any

from automl_meta.data import Dataset
from automl_meta.errors import ConfigurationError
from automl_meta.space._configs import get_algorithm, validate_config

MAX_ONEHOT_CATEGORIES = 32
MAX_ORDINAL_CATEGORIES = 250


def build(config: dict[str, Any], dataset: Dataset, random_state: int = 0) -> Any:
    """A scikit-learn ``Pipeline`` for ``config`` fitted to ``dataset``'s columns.

    Numeric columns are median-imputed (with missing indicators) and scaled when the model
    needs it; categorical columns are one-hot encoded (unseen categories ignored, rare ones
    grouped) or, for gradient boosting, ordinal-encoded and handled natively.

    Example:
        >>> from automl_meta import load_dataset
        >>> from automl_meta.space import default_config
        >>> ds = load_dataset("sklearn:iris")
        >>> pipe = build(default_config("knn"), ds).fit(ds.X, ds.y)
        >>> pipe.predict(ds.X.head(1)).tolist()
        [0]
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    config = validate_config(config, dataset.task)
    algorithm = get_algorithm(config["algorithm"], dataset.task)
    estimator = algorithm.factory(_typed(algorithm, config["params"]), random_state)
    numeric_steps: list[Any] = [SimpleImputer(strategy="median", add_indicator=True,
                                              keep_empty_features=True)]
    if algorithm.scale:
        numeric_steps.append(StandardScaler())
    if algorithm.encoding == "ordinal":
        categorical_step: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1,
            max_categories=MAX_ORDINAL_CATEGORIES, dtype=float,
        )
    else:
        categorical_step = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=MAX_ONEHOT_CATEGORIES,
            sparse_output=False, dtype=float,
        )
    # categorical columns come first so their positions are known to the estimator
    transformers = []
    if dataset.categorical:
        transformers.append(("categorical", categorical_step, list(dataset.categorical)))
    if dataset.numeric:
        transformers.append(("numeric", make_pipeline(*numeric_steps), list(dataset.numeric)))
    preprocess = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    if algorithm.encoding == "ordinal":
        mask = list(range(len(dataset.categorical)))
        estimator.set_params(categorical_features=mask or None)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def _typed(algorithm: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with whole floats of integer parameters as ints.

    ``{"n_neighbors": 5.0}`` (what JSON written by another tool may hold) has the hash of
    ``{"n_neighbors": 5}`` and must build the same estimator; scikit-learn rejects the float
    (or, for ``min_samples_leaf``, reads it as a fraction). A fractional value of an integer
    parameter is an error.
    """
    from optuna.distributions import IntDistribution

    out = dict(params)
    for param in algorithm.params:
        value = out.get(param.name)
        if not isinstance(param.distribution, IntDistribution) or not isinstance(value, float):
            continue
        if not value.is_integer():
            raise ConfigurationError(
                f"{algorithm.name}.{param.name}={value!r} is not a whole number; expected an "
                f"integer from {param.distribution.low} to {param.distribution.high}."
            )
        out[param.name] = int(value)
    return out


def unseen_categories(model: Any, X: Any) -> dict[str, tuple[int, list[Any]]]:
    """The categorical columns of ``X`` holding values ``model``'s fitted encoder never saw
    in training: for each, the number of such rows and up to three of the values.

    ``model`` is a pipeline :func:`build` made (possibly label-coded) or an ensemble of them
    (``members``); the encoder is the ``categorical`` step of its ``preprocess``. Missing
    values are not counted (they are missing, not new). The encoders treat the unseen values
    as unknown (``handle_unknown`` above) rather than failing, which is why a caller should
    say so.

    Example:
        >>> unseen_categories(pipe, new_rows)  # doctest: +SKIP
        {'colour': (3, ['teal'])}
    """
    found: dict[str, tuple[int, list[Any]]] = {}
    for pipeline in getattr(model, "members", None) or [model]:
        steps = getattr(pipeline, "named_steps", {})
        for name, encoder, columns in getattr(steps.get("preprocess"), "transformers_", []):
            categories = getattr(encoder, "categories_", None)
            if name != "categorical" or categories is None:
                continue
            for column, known in zip(columns, categories, strict=False):
                if column in found or column not in getattr(X, "columns", ()):
                    continue
                values = X[column]
                new = values.notna() & ~values.isin(list(known))
                if new.any():
                    found[column] = (int(new.sum()), list(values[new].unique()[:3]))
    return found
