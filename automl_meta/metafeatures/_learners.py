"""Small vectorised learners for the landmarkers: LDA, naive Bayes, 1-nearest-neighbour.

They predict like scikit-learn's ``LinearDiscriminantAnalysis()``, ``GaussianNB()`` and a
brute-force ``KNeighborsClassifier(n_neighbors=1)`` (pymfe's landmarkers) at a fraction
of the cost.
"""

from __future__ import annotations

import numpy as np

LDA_TOL = 1.0e-4  # scikit-learn's default rank tolerance of the svd solver
NB_VAR_SMOOTHING = 1.0e-9  # scikit-learn's default


def lda_predict(X: np.ndarray, y: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Fit LDA (scikit-learn's svd solver, class priors from ``y``) and predict ``X_test``.

    The singular values and vectors of the within-class scaled data come from the
    eigen-decomposition of its d x d Gram matrix instead of an n x d SVD.
    """
    classes, codes = np.unique(y, return_inverse=True)
    n_rows, n_classes = len(y), classes.size
    if n_classes == 1:
        return np.full(len(X_test), classes[0])
    counts = np.bincount(codes)
    priors = counts / n_rows
    onehot = codes[:, None] == np.arange(n_classes)[None, :]
    means = (onehot.T.astype(float) @ X) / counts[:, None]
    within = X - means[codes]
    std = within.std(axis=0)
    std[std == 0] = 1.0
    scaled = within / std * np.sqrt(1.0 / n_rows)
    eigvals, eigvecs = np.linalg.eigh(scaled.T @ scaled)
    singular = np.sqrt(np.clip(eigvals[::-1], 0.0, None))
    vectors = eigvecs[:, ::-1]
    rank = int(np.sum(singular > LDA_TOL))
    scalings = (vectors[:, :rank] / std[:, None]) / singular[:rank]
    centre = priors @ means
    between = (np.sqrt(n_rows * priors / (n_classes - 1.0))[:, None] * (means - centre))
    _, between_sv, between_vt = np.linalg.svd(between @ scalings, full_matrices=False)
    rank = int(np.sum(between_sv > LDA_TOL * between_sv[0])) if between_sv.size else 0
    scalings = scalings @ between_vt.T[:, :rank]
    coef = (means - centre) @ scalings
    intercept = -0.5 * np.sum(coef**2, axis=1) + np.log(priors)
    coef = coef @ scalings.T
    intercept = intercept - centre @ coef.T
    if n_classes == 2:
        scores = X_test @ (coef[1] - coef[0]) + (intercept[1] - intercept[0])
        return classes[(scores > 0).astype(int)]
    return classes[np.argmax(X_test @ coef.T + intercept, axis=1)]


def nearest_neighbour_predict(
    X: np.ndarray, y: np.ndarray, X_test: np.ndarray, squares: np.ndarray
) -> np.ndarray:
    """1-NN (euclidean) prediction; ties go to the first training row.

    ``squares`` holds the squared norms of the rows of ``X``.
    """
    distances = squares[None, :] - 2.0 * (X_test @ X.T)
    return y[np.argmin(distances, axis=1)]


def nearest_neighbour_1d_predict(
    values: np.ndarray, y: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """1-NN on one attribute by binary search; ties go to the lower value, then the first row."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    if ordered.size == 1:
        return np.full(test.size, y[order[0]])
    right = np.clip(np.searchsorted(ordered, test), 1, ordered.size - 1)
    left = right - 1
    position = np.where(np.abs(test - ordered[left]) <= np.abs(ordered[right] - test), left, right)
    position = np.searchsorted(ordered, ordered[position], side="left")
    return y[order[position]]


def gaussian_nb_predict(X: np.ndarray, y: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Gaussian naive Bayes as scikit-learn's ``GaussianNB()`` (var_smoothing 1e-9)."""
    classes, codes = np.unique(y, return_inverse=True)
    counts = np.bincount(codes)
    epsilon = NB_VAR_SMOOTHING * np.max(np.var(X, axis=0))
    onehot = (codes[:, None] == np.arange(classes.size)[None, :]).astype(float)
    means = onehot.T @ X / counts[:, None]
    centred = X - means[codes]
    variances = onehot.T @ (centred * centred) / counts[:, None] + epsilon
    log_prior = np.log(counts / counts.sum())
    scores = np.empty((len(X_test), classes.size))
    for index in range(classes.size):
        deviation = X_test - means[index]
        scores[:, index] = (
            log_prior[index]
            - 0.5 * np.sum(np.log(2.0 * np.pi * variances[index]))
            - 0.5 * np.sum(deviation * deviation / variances[index], axis=1)
        )
    return classes[np.argmax(scores, axis=1)]
