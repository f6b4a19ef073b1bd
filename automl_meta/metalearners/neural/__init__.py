"""The neural meta-learner: a deep-kernel surrogate meta-trained across past datasets and
fine-tuned on the trials of a new one (see :class:`NeuralLearner`).

Only ``learner`` is imported here, and it imports torch lazily: ``model``, ``train`` and
``adapt`` (which need torch) load when first used.
"""

from __future__ import annotations

from automl_meta.metalearners.neural.learner import NeuralLearner

__all__ = ["NeuralLearner"]
