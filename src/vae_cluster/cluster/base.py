"""Base clusterer: a uniform `n_clusters` parameter over scikit-learn's estimators.

Contract with the evaluator (`vae_cluster.evaluation.evaluator`):
- `n_clusters=None` means "the number of classes of each target"; the evaluator sets it per target.
  A fixed `n_clusters` (`cluster.n_clusters=K`) is used for every target.
- `needs_k = False` for density clusterers (DBSCAN, HDBSCAN): they find their own number of clusters.
- `labels_` after `fit`: int labels, -1 = noise. `noise` (density clusterers only) is the policy the
  evaluator applies to noise points: `own_cluster` (noise scored as one more cluster) or `exclude`
  (noise left out of every metric; `coverage` says how much was kept).
- `note_` (after `fit`, "" by default): a remark for the metrics row (e.g. the eps chosen, a fallback).
- `clusterings_` (after `fit`, {} by default): name -> labels when the clusterer finds several clusterings
  (cluster=nrkmeans: s1, s2, ... one per subspace; `labels_` is the first).
- `space_` (after `fit`, None by default): set when the clusterer worked in another space than the one
  it was given (the model's own clusters live in the un-reduced latent space).
- `n_clusters="auto"`: k is chosen without labels over `k_range` by `k_criterion` (`cluster/k_select.py`
  has the criteria and their references). `auto` = bic (lowest BIC) for the model's own mixture
  (cluster=model), and prediction_strength (Tibshirani & Walther 2005: the largest k whose clusters are reproduced from an
  independent half of the items, mean prediction strength >= 0.8) for the others (gmm included); also silhouette,
  calinski_harabasz, davies_bouldin, and the gap statistic with a uniform (gap) or principal-component
  aligned (gap_pc) reference box. After `fit`: `k_chosen_`,
  `k_criterion_`, `k_curve_` (k -> score) and a note "k=4 chosen by bic over 2..12"; None/"" otherwise.
- per facet (models with several facets, see `models/base.py`): `n_clusters` may be a mapping facet -> k
  (an integer, auto, or null), e.g. `cluster.n_clusters={shared: auto, audio: 4}`; `for_facet(name)` gives the
  copy for one facet (representations that are not named in it, e.g. the baselines, take null: the number of
  classes of each target). Checked when built (`check_k_setting`); the pipeline checks the names against the
  model's facets before training.
- `clusterings_` (after `fit`; empty by default): clusterers that find several clusterings in one fit (each in its
  own subspace) name them here, name -> int labels; the evaluator then scores each as rows `<method>:<name>`
  (facets of the representation) instead of `labels_`.
- `for_method(method, full, full_space, own_labels)`: a fresh unfitted copy for one representation;
  `full` is the representation before the reducer, `own_labels` the model's own cluster assignment of
  these items (data, from `BaseVAE.cluster_assignments`) or None. Only `cluster=model` uses them.
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.exceptions import ConvergenceWarning

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster import k_select
from vae_cluster.cluster.settings import K_CRITERION, K_RANGE
from vae_cluster.utils.errors import UserError

NOISE_POLICIES = ("own_cluster", "exclude")


def check_k(k, n_items: int, key: str = "cluster.n_clusters") -> int | str:
    """k must be "auto" or an integer in [2, n_items]: anything else is a one-line user error."""
    if isinstance(k, str) and k.strip().lower() == "auto":
        return "auto"
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        try:
            if float(k) != int(float(k)):
                raise ValueError
            k = int(float(k))
        except (TypeError, ValueError):
            raise UserError(f"{key}={k!r} must be an integer >= 2 or auto") from None
    k = int(k)
    if not 2 <= k <= n_items:
        raise UserError(f"{key}={k} must be between 2 and the number of items being clustered ({n_items})")
    return k


def check_k_setting(n_clusters, key: str = "cluster.n_clusters"):
    """`cluster.n_clusters` as set by the user: null, an integer >= 2, auto, or a mapping facet -> one of those.
    Returns it unchanged (a mapping as a plain dict); a bad value is a one-line UserError naming the key."""
    if isinstance(n_clusters, Mapping):
        if not n_clusters:
            raise UserError(f"{key}: the mapping is empty; give facet: k pairs, e.g. {{shared: auto, audio: 4}}")
        for facet, k in n_clusters.items():
            check_k_setting(k, f"{key}.{facet}")
            if isinstance(k, Mapping):
                raise UserError(f"{key}.{facet}: give a number, auto or null, not a mapping")
        return n_clusters if isinstance(n_clusters, dict) else dict(n_clusters)
    if n_clusters is not None and n_clusters != "auto":  # checked when built, before any data is loaded
        try:
            check_k(n_clusters, 2**31, key)
        except UserError:
            raise UserError(f"{key}={n_clusters!r} must be an integer >= 2 or auto (or null: the number of classes "
                            f"of each target)") from None
    return n_clusters


def check_noise(policy: str) -> str:
    if policy not in NOISE_POLICIES:
        raise UserError(f"cluster.noise={policy!r}: choose from {', '.join(NOISE_POLICIES)}")
    return policy


class BaseClusterer(BaseEstimator, ClusterMixin):
    """Subclasses implement `_estimator(k)`; -1 in labels_ means noise (density clusterers)."""

    name = "clusterer"
    needs_k = True
    #: what the evaluator does with noise labels (-1): density clusterers make it a setting
    noise = "own_cluster"
    note_ = ""
    space_: str | None = None
    #: the label-free criterion `k_criterion=auto` means for this clusterer
    default_k_criterion = "prediction_strength"
    k_chosen_: int | None = None
    k_criterion_ = ""
    k_curve_: dict | None = None
    #: after fit: name -> int labels of each clustering when a clusterer gives several (nrkmeans: one per
    #: subspace, the first also in `labels_`); empty: one clustering, in `labels_`
    clusterings_: dict = {}
    #: True when `n_clusters` may be a list, one k per clustering (nrkmeans)
    several_clusterings = False

    def __init__(self, n_clusters: int | str | None = None, random_state: int = 0, k_range=K_RANGE,
                 k_criterion: str = K_CRITERION):
        self.n_clusters = check_k_setting(n_clusters)
        self.random_state = random_state
        self.k_range, self.k_criterion = k_range, k_criterion

    def _estimator(self, k):  # pragma: no cover - abstract
        raise NotImplementedError

    def for_method(self, method: str, full=None, full_space: str | None = None, own_labels=None):
        return clone(self)

    def facet_keys(self) -> list[str]:
        """The facets named in a per-facet `n_clusters` (none for a single setting)."""
        return list(self.n_clusters) if isinstance(self.n_clusters, dict) else []

    def for_facet(self, facet: str | None):
        """This clusterer for one facet: with a per-facet `n_clusters`, a copy with that facet's k (null for a
        representation that is not a named facet); otherwise itself."""
        if not isinstance(self.n_clusters, dict):
            return self
        return clone(self).set_params(n_clusters=self.n_clusters.get(facet) if facet is not None else None)

    def _check_X(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        X = X.reshape(len(X), -1)
        if len(X) < 2:
            raise UserError(f"cannot cluster {len(X)} item(s): need at least 2")
        if not np.isfinite(X).all():
            raise UserError("the representation to cluster contains NaN or infinite values "
                            "(a diverged model? try a lower trainer learning rate)")
        return X

    def fit(self, X, y=None):
        X = self._check_X(X)
        k = None
        if self.needs_k:
            if self.n_clusters is None:
                raise UserError("cluster.n_clusters is not set (the evaluator sets it to the number of classes)")
            k = check_k(self.n_clusters, len(X))
        self.k_chosen_, self.k_criterion_, self.k_curve_ = None, "", None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            if k == "auto":
                k_note = self._fit_auto(X)
            else:
                k_note = ""
                self.estimator_ = self._estimator(k)
                self.labels_ = np.asarray(self._fit_predict(X), dtype=int)
        notes = [k_note] + [f"{self.name}: {str(w.message).split('. ')[0]}" for w in caught
                            if issubclass(w.category, ConvergenceWarning)]
        self.note_ = "; ".join(dict.fromkeys(n for n in notes if n))
        return self

    def _fit_auto(self, X) -> str:
        """Fit every k of the range, keep the one the label-free criterion prefers; returns the note."""
        criterion = k_select.check_criterion(self.k_criterion, self.default_k_criterion)
        ks = k_select.candidates(self.k_range, len(X))
        if criterion == "prediction_strength":  # on halves only; the chosen k alone is fitted on every item
            curve, chosen = k_select.prediction_strength_curve(X, ks, self.fit_quick, self.random_state,
                                                               jobs=min(k_select.cores(), len(ks)), early_stop=True)
            self.estimator_ = self._estimator(chosen)
            self.labels_ = np.asarray(self._fit_predict(X), dtype=int)
            return self._chosen(chosen, criterion, curve, ks)
        fits, curve = {}, {}
        for k in ks:
            self.estimator_ = self._estimator(k)
            labels = np.asarray(self._fit_predict(X), dtype=int)
            fits[k] = (self.estimator_, labels)
            curve[k] = self._bic(X) if criterion == "bic" else \
                k_select.index(criterion, X, labels, self.random_state) if criterion in k_select.INDICES else np.nan
        if criterion in ("gap", "gap_pc"):
            curve, chosen = k_select.gap_curve(X, {k: lab for k, (_, lab) in fits.items()},
                                               lambda k, R: self._estimator(k).fit_predict(R), self.random_state,
                                               aligned=criterion == "gap_pc")
        else:
            chosen = k_select.best(curve, lower_is_better=criterion in k_select.LOWER_IS_BETTER)
        self.estimator_, self.labels_ = fits[chosen]
        return self._chosen(chosen, criterion, curve, ks)

    def _chosen(self, chosen: int, criterion: str, curve: dict, ks: list[int]) -> str:
        """Record the label-free choice of k; returns the note."""
        self.k_chosen_, self.k_criterion_, self.k_curve_ = chosen, criterion, curve
        tried = sorted(curve)
        note = f"k={chosen} chosen by {criterion} over {ks[0]}..{ks[-1]}"
        if tried and tried[-1] < ks[-1]:
            note += f" (stopped after k={tried[-1]}: the criterion had peaked)"
        if criterion == "prediction_strength" and not curve[chosen] >= k_select.PS_THRESHOLD:
            note += (f" (no k reached prediction strength {k_select.PS_THRESHOLD}: weak cluster structure, "
                     f"the strongest k ({curve[chosen]:.2f}) taken)")
        return note

    def resample_params(self) -> dict:
        """Settings of the fits on halves of the items when scanning ks for `auto`; default: the same."""
        return {}

    def fit_part(self, k: int, A, quick: bool = False):
        """A fresh copy fitted on part A of the items with k clusters: (its labels, how new points join);
        `quick`: with `resample_params` (one start), for scanning many ks."""
        est = clone(self).set_params(n_clusters=k, **(self.resample_params() if quick else {})).fit(A)
        return est.labels_, lambda Z: est.assign(Z, A)[0]

    def fit_quick(self, k: int, A):
        return self.fit_part(k, A, quick=True)

    def _bic(self, X) -> float:
        """BIC of the fitted estimator (mixture models override this)."""
        raise UserError(f"cluster.k_criterion=bic needs a mixture model (cluster=gmm or model), not "
                        f"cluster={self.name}; use prediction_strength, silhouette or gap_pc")

    def _fit_predict(self, X):
        return self.estimator_.fit_predict(X)

    # -- new points (model bundles, `vae-cluster predict`) ------------------------------------------
    def assigner(self, X) -> Assigner:
        """How new points join the clusters fitted on X (as plain arrays); default: the nearest cluster mean."""
        return Assigner.cluster_means(X, self.labels_)

    def assign(self, Z, X) -> tuple[np.ndarray, np.ndarray]:
        """(labels, score) of new points Z for the clusters fitted on X; see `cluster.assign`."""
        return self.assigner(X).assign(Z)
