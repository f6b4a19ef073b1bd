"""The settings of a benchmark run, checked once, and the ones that fix its protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from automl_meta.errors import ConfigurationError

DEFAULT_BUDGETS = (1, 5, 10, 20, 50)
SEARCH_FOLDS = 3  # the CV of every search on the training part (as fit and the meta-db use)
# the settings that change what a result means: a run resumes only with the same ones
PROTOCOL_KEYS = ("max_rows", "seed", "seconds", "trial_seconds", "folds", "db")


@dataclass
class BenchmarkSettings:
    """How every method is run and measured.

    Args:
        methods: method names (see :data:`automl_meta.harness.methods.METHODS`), checked
            with :func:`~automl_meta.harness.methods.check_methods`.
        budgets: trial budgets; a search method reports its incumbent after each.
        seconds: the wall-time budget of ``fit``, ``flaml_automl`` and ``tpe_seconds``.
        max_rows: rows kept per dataset (stratified for classification, seeded).
        seed: seed of the row cap, the split, the CV folds and every sampler.
        trial_seconds: time limit of one trial's cross-validation (default ``seconds``);
            scoring a chosen configuration on the test part gets twice that.
        folds: folds of the cross-validation searches run on the training part.
        db: a meta-database store layered over the shipped bundle (read only); ``None``
            for the shipped bundle alone.

    Example:
        >>> BenchmarkSettings(methods=("tpe",), budgets=(5, 20)).largest_budget
        20
    """

    methods: tuple[str, ...]
    budgets: tuple[int, ...] = DEFAULT_BUDGETS
    seconds: float = 30.0
    max_rows: int = 5000
    seed: int = 0
    trial_seconds: float | None = None
    folds: int = SEARCH_FOLDS
    db: str | None = None

    def __post_init__(self) -> None:
        # the method names are checked by the caller (harness.methods.check_methods): the
        # methods are built on the trials, which take these settings
        self.methods = tuple(self.methods)
        budgets = sorted(set(self.budgets))
        if not budgets or any(not isinstance(b, int) or isinstance(b, bool) or b < 1
                              for b in budgets):
            raise ConfigurationError(f"budgets={self.budgets!r} must be positive whole numbers "
                                     "of trials, e.g. 1,5,10,20,50.")
        self.budgets = tuple(budgets)
        if not self.seconds > 0:
            raise ConfigurationError(f"seconds={self.seconds!r} must be a positive time budget.")
        if self.trial_seconds is None:
            self.trial_seconds = float(self.seconds)
        if not self.trial_seconds > 0:
            raise ConfigurationError(
                f"trial_seconds={self.trial_seconds!r} must be positive seconds.")
        if self.max_rows < 20:
            raise ConfigurationError(f"max_rows={self.max_rows!r} is too few rows to split and "
                                     "cross-validate; expected at least 20.")
        if self.folds < 2:
            raise ConfigurationError(f"folds={self.folds!r} must be at least 2.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) \
                or not 0 <= self.seed < 2 ** 32:
            raise ConfigurationError(f"seed={self.seed!r} must be a whole number from 0 to "
                                     "2**32 - 1 (the seeds scikit-learn and NumPy take).")

    @property
    def largest_budget(self) -> int:
        return max(self.budgets)

    @property
    def test_time_limit(self) -> float:
        """Seconds allowed to fit a chosen configuration on the training part and test it."""
        return 2.0 * float(self.trial_seconds or self.seconds)

    @property
    def seconds_label(self) -> str:
        """The budget label of the time-budgeted methods, e.g. ``"30s"``."""
        return f"{self.seconds:g}s"

    def protocol(self) -> dict[str, Any]:
        """The settings a resumed run must share with the results it continues."""
        values = asdict(self)
        return {key: values[key] for key in PROTOCOL_KEYS}
