"""Advice: recommendations for a new dataset, and warm starts for Optuna studies.

:func:`recommend` ranks configurations from the meta-learners; :func:`warm_start` enqueues
them into any Optuna study; :class:`MetaSampler` is an Optuna sampler that starts from them
(or lets a sequential learner propose every startup trial); with ``algorithm="lightgbm"``
(or any algorithm of the space) both serve one algorithm under its library's own parameter
names, for an objective written against that library. All of them take ``db=``, one
:class:`KnowledgeSource`: the local store (:class:`LocalSource`) or a team server
(:class:`ServerSource`), as :func:`resolve_source` resolves a URL, a path or an object.
"""

from __future__ import annotations

from automl_meta.advice._optuna import MetaSampler, warm_start
from automl_meta.advice._recommend import Recommender, get_recommender
from automl_meta.advice._sources import (
    KnowledgeSource,
    LocalSource,
    ServerSource,
    recommend,
    resolve_source,
)

__all__ = ["KnowledgeSource", "LocalSource", "MetaSampler", "Recommender", "ServerSource",
           "get_recommender", "recommend", "resolve_source", "warm_start"]
