"""Advice: recommendations for a new dataset, and warm starts for Optuna studies.

:func:`recommend` ranks configurations from the meta-learners; :func:`warm_start` enqueues
them into any Optuna study; :class:`MetaSampler` is an Optuna sampler that starts from them
(or lets a sequential learner propose every startup trial).
"""

from __future__ import annotations

from automl_meta.advice._optuna import MetaSampler, warm_start
from automl_meta.advice._recommend import Recommender, get_recommender, recommend

__all__ = ["MetaSampler", "Recommender", "get_recommender", "recommend", "warm_start"]
