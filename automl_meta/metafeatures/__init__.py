"""Meta-features: named, pymfe-compatible measures that characterise a dataset.

Five groups of measures (``general``, ``statistical``, ``info-theory``,
``landmarking``, ``model-based``), each a module whose functions are registered by a
decorator and name the shared dependencies they need (the numeric matrix, the
discretised matrix, class indices, CV folds, a fitted tree...). The dependencies are
computed lazily, once per extraction call, and each measure is timed.

Sizes (constants of ``_shared``): general measures use the whole dataset; the
statistical and info-theory groups a stratified sample of at most 5,000 rows
(``MAX_ROWS``); landmarking and model-based, which fit models in 10 folds, at most 2,000
rows (``MAX_MODEL_ROWS``); the O(d^2)/O(d^3) measures (``cor``, ``cov``,
``eigenvalues``, the canonical-correlation family, ``sd_ratio``, ``linear_discr``) at
most 250 random columns (``MAX_FEATURES``). Hence a 100,000 x 100 dataset takes about
one second.

Regression: class measures (``nr_class``, ``freq_class``, ``class_ent``) are NaN; the
measures relating attributes to the target, the landmarkers and the tree use the target
cut into 5 equal-frequency bins (``REGRESSION_BINS``) as classes.

Example:
    >>> from automl_meta.metafeatures import extract_metafeatures
    >>> mf = extract_metafeatures("sklearn:wine", groups=["general", "statistical"])
    >>> mf["nr_inst"], "cor.mean" in mf
    (178.0, True)
"""

from __future__ import annotations

from automl_meta.metafeatures import (  # noqa: F401  (registers the measures)
    _shared,
    general,
    infotheory,
    landmarking,
    model_based,
    statistical,
)
from automl_meta.metafeatures._extract import extract_metafeatures, list_measures
from automl_meta.metafeatures._registry import GROUPS
from automl_meta.metafeatures._result import MetaFeatures

EXTRACTOR_VERSION = "1"
"""Version of the extractor's *values*, stored with every meta-feature in the meta-db.

Bump it (as a new integer string) whenever a stored value could change for the same
dataset, ``groups``, ``summary`` and ``random_state``: a measure added, removed or
renamed; a definition, encoding, default, row or feature cap, subsampling or fold scheme
changed; a change of a library whose result we store as is (e.g. scikit-learn's trees).
Do not bump it for refactors and speed-ups that leave values equal within 1e-9 relative.
Meta-features of another version must be recomputed, never mixed in one meta-model.
"""

__all__ = [
    "EXTRACTOR_VERSION",
    "GROUPS",
    "MetaFeatures",
    "extract_metafeatures",
    "list_measures",
]
