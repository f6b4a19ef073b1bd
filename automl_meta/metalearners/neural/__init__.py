"""The neural meta-learner: a deep-kernel surrogate meta-trained across past datasets and
fine-tuned on the trials of a new one (see :class:`NeuralLearner`).

``learner`` holds the class; ``fitting``, ``runtime``, ``scoring``, ``recall``,
``acquisition`` and ``state`` do its work without importing torch at import time, and
``model``, ``train`` and ``adapt`` (which import torch) load when first used.
"""

from __future__ import annotations

from automl_meta.metalearners.neural.learner import NeuralLearner

__all__ = ["NeuralLearner"]
