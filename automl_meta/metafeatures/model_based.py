"""Model-based measures: the shape of a decision tree fitted to the data (pymfe's group).

One unpruned CART tree (scikit-learn, gini, fixed ``random_state``) is fitted once on
``N`` of ``model_sample`` (at most ``MAX_MODEL_ROWS`` rows) and shared with the
landmarking group. For regression it is a classification tree of the quantile-binned
target, so that the measures (leaves per class...) keep their meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from automl_meta.metafeatures._registry import dependency, measure


@dataclass(frozen=True)
class TreeInfo:
    """The arrays of a fitted tree the measures read, one entry per node."""

    feature: np.ndarray
    samples: np.ndarray
    depth: np.ndarray
    leaf: np.ndarray
    leaf_class: np.ndarray
    n_features: int

    @property
    def n_leaves(self) -> int:
        return int(self.leaf.sum())

    @property
    def n_nodes(self) -> int:
        return int((~self.leaf).sum())


@dependency
def tree(model_N: np.ndarray, model_y: np.ndarray, random_state: int) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=random_state).fit(model_N, model_y)


@dependency
def tree_info(tree: DecisionTreeClassifier) -> TreeInfo:
    structure = tree.tree_
    left, right = structure.children_left, structure.children_right
    depth = np.zeros(structure.node_count, dtype=int)
    frontier = np.array([0])
    while frontier.size:
        children = np.concatenate([left[frontier], right[frontier]])
        parents = np.concatenate([frontier, frontier])
        keep = children >= 0
        depth[children[keep]] = depth[parents[keep]] + 1
        frontier = children[keep]
    leaf = structure.feature < 0
    return TreeInfo(
        feature=structure.feature,
        samples=structure.n_node_samples,
        depth=depth,
        leaf=leaf,
        leaf_class=np.argmax(structure.value[:, 0, :], axis=1),
        n_features=int(tree.n_features_in_),
    )


def _arrival(info: TreeInfo) -> np.ndarray:
    """Probability of reaching each leaf by a random walk from the root."""
    return np.power(2.0, -info.depth[info.leaf])


@measure("model-based")
def leaves(tree_info: TreeInfo) -> int:
    return tree_info.n_leaves


@measure("model-based")
def nodes(tree_info: TreeInfo) -> int:
    """Internal (split) nodes."""
    return tree_info.n_nodes


@measure("model-based")
def nodes_per_attr(tree_info: TreeInfo) -> float:
    return tree_info.n_nodes / tree_info.n_features


@measure("model-based")
def nodes_per_inst(tree_info: TreeInfo) -> float:
    return tree_info.n_nodes / int(tree_info.samples[0])


@measure("model-based", multi=True)
def tree_depth(tree_info: TreeInfo) -> np.ndarray:
    """Depth of every node."""
    return tree_info.depth


@measure("model-based", multi=True)
def leaves_branch(tree_info: TreeInfo) -> np.ndarray:
    """Depth of every leaf (length of each branch)."""
    return tree_info.depth[tree_info.leaf]


@measure("model-based", multi=True)
def leaves_corrob(tree_info: TreeInfo) -> np.ndarray:
    """Share of the training rows reaching each leaf."""
    return tree_info.samples[tree_info.leaf] / tree_info.samples[0]


@measure("model-based", multi=True)
def tree_shape(tree_info: TreeInfo) -> np.ndarray:
    arrival = _arrival(tree_info)
    return -arrival * np.log2(arrival)


@measure("model-based", multi=True)
def leaves_homo(tree_info: TreeInfo) -> np.ndarray:
    arrival = _arrival(tree_info)
    return tree_info.n_leaves / (-arrival * np.log2(arrival))


@measure("model-based", multi=True)
def tree_imbalance(tree_info: TreeInfo) -> np.ndarray:
    values, counts = np.unique(_arrival(tree_info), return_counts=True)
    aux = np.power(2.0, -values * counts)
    return -aux * np.log2(aux)


@measure("model-based", multi=True)
def leaves_per_class(tree_info: TreeInfo) -> np.ndarray:
    """Share of the leaves predicting each class (classes predicted by some leaf)."""
    counts = np.bincount(tree_info.leaf_class[tree_info.leaf])
    return counts[counts > 0] / tree_info.n_leaves


@measure("model-based", multi=True)
def nodes_per_level(tree_info: TreeInfo) -> np.ndarray:
    """Internal nodes at each depth that has some."""
    counts = np.bincount(tree_info.depth[~tree_info.leaf])
    return counts[counts > 0]


@measure("model-based", multi=True)
def nodes_repeated(tree_info: TreeInfo) -> np.ndarray:
    """How many nodes split on each attribute used by the tree."""
    counts = np.bincount(tree_info.feature[~tree_info.leaf])
    return counts[counts > 0]


@measure("model-based", multi=True)
def var_importance(tree: DecisionTreeClassifier) -> np.ndarray:
    """Gini importance of each attribute."""
    return tree.feature_importances_
