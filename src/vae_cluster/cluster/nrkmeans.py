"""`cluster=nrkmeans`: Non-Redundant K-Means (Mautz, Ye, Plant & Böhm, KDD 2018, "Discovering Non-Redundant
K-means Clusterings in Optimal Subspaces").

Several K-Means clusterings of the same items, each in its own subspace, from one orthogonal rotation V of the
feature space: the columns of V are shared out between the clusterings and a noise space (one cluster: the mean
of all items), so that each clustering sees only its own dimensions and the clusterings do not repeat each
other. `cluster.n_clusters=[2,4]` asks for two clusterings (k=2 and k=4) plus the noise space; one integer asks
for one clustering in its best subspace (the paper's special case, SubKmeans).

One run (`_run`) alternates, as in the paper:
1. per subspace, K-Means' assignment and update steps on the rotated, projected items;
2. per pair of subspaces (i, j), in order, the eigenvectors of V_ij' (S_i - S_j) V_ij (S = the subspace's
   scatter matrix around its cluster means, V_ij = the columns of both): eigenvectors with a negative
   eigenvalue cost less in i and go to i, the others to j; for the noise space only clearly negative ones.
Until no label changes. The cost is the sum over subspaces of the within-cluster scatter in their own
dimensions; of `n_init` runs from random rotations and k-means++ centres the cheapest is kept (label-free).

`cluster.n_clusters=auto`: every combination of one to `max_clusterings` clusterings with k in
`cluster.k_range` is fitted, and the one with the shortest description length wins: the MDL cost of AutoNR
(Leiber, Mautz, Plant & Böhm, SDM 2022, "Automatic Parameter Selection for Non-Redundant Clustering"), which
weighs the bits of the model (dimensionalities, k, centres, one variance per subspace) against the bits of
the items under it (cluster ids, spherical Gaussian residuals). AutoNR searches greedily by splitting and
merging subspaces; here the (small) grid is searched whole.

Items live in the span of the centred data: the rotation is searched there (exact for every K-Means distance
to a cluster mean) and mapped back, so a 436-d feature matrix of 200 items costs a 199-d problem.

After `fit`: `labels_` (the first clustering), `clusterings_` (name -> labels: s1, s2, ... in the order of
`n_clusters`; with auto, by k, largest first), `subspaces_` (one `Subspace` per clustering: name, k, its
dimensionality, its orthonormal basis and centres; `Subspace.assigner()` places new points), `noise_dim_`,
`rotation_` (d x d: the subspaces' bases, then the noise space's), `cost_`, `n_iter_`, `mdl_` and `search_`
(auto: each combination tried and its description length in bits).
"""
from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import ortho_group
from sklearn.cluster import kmeans_plusplus

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer, check_k
from vae_cluster.cluster.k_select import candidates
from vae_cluster.cluster.settings import K_RANGE
from vae_cluster.utils.errors import UserError

#: an eigenvalue counts as negative for the noise space below -EIG_TOL x the largest |eigenvalue| (ClustPy uses
#: an absolute -1e-7: both only keep rounding noise out of the cluster spaces)
EIG_TOL = 1e-9
#: Rissanen's universal code for integers: log2(c) + log2 n + log2 log2 n + ...
RISSANEN_C = 2.865064
K_CRITERIA = ("auto", "mdl")


def check_ks(value, n_items: int) -> list[int] | str:
    """`cluster.n_clusters` for nrkmeans: "auto", one integer, or a list of integers >= 2 (one per clustering)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if value is None:
        raise UserError("cluster.n_clusters is not set (the evaluator sets it to the number of classes)")
    if isinstance(value, (numbers.Number, str)):
        return [int(check_k(value, n_items))]
    try:
        ks = list(value)
    except TypeError:
        raise UserError(f"cluster.n_clusters={value!r} must be a list of integers >= 2 (one k per clustering), "
                        f"one integer, or auto") from None
    if not ks:
        raise UserError("cluster.n_clusters=[] is empty: give one k per clustering, e.g. [2,4], or auto")
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
            raise UserError(f"cluster.n_clusters={ks}: every entry must be an integer >= 2 (one k per "
                            f"clustering; the noise space is added by itself), or use cluster.n_clusters=auto")
        if k > n_items:
            raise UserError(f"cluster.n_clusters={ks}: k={k} is more than the {n_items} items being clustered")
        out.append(int(k))
    return out


@dataclass
class Subspace:
    """One clustering of a fitted NrKmeans: its k, its subspace (orthonormal `basis`, d x dim) and centres."""
    name: str
    k: int
    basis: np.ndarray
    centers: np.ndarray   # k x d, in the input space
    labels: np.ndarray = field(repr=False)

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def assigner(self) -> Assigner:
        """New points: projected on the basis, then the nearest projected centre."""
        return Assigner.subspace(self.basis, self.centers @ self.basis)


@dataclass
class Trial:
    """One combination tried by `n_clusters=auto`: its ks and description length (bits)."""
    ks: tuple[int, ...]
    bits: float


@dataclass
class Run:
    """The state of one NrKmeans run in the reduced space (columns of V per subspace, last = noise)."""
    V: np.ndarray
    cols: list[np.ndarray]
    centers: list[np.ndarray]
    labels: np.ndarray        # n x subspaces (noise: all 0)
    scatter: list[np.ndarray]
    n_iter: int = 0
    lost: list[int] = field(default_factory=list)   # indices (into ks) of clusterings whose subspace emptied

    def cost(self) -> float:
        """The paper's objective: within-cluster scatter of each subspace in its own dimensions."""
        return float(sum(np.trace(self.V[:, c].T @ S @ self.V[:, c]) for c, S in zip(self.cols, self.scatter)))


class NrKmeansClusterer(BaseClusterer):
    name = "nrkmeans"
    several_clusterings = True

    def __init__(self, n_clusters=None, n_init: int = 10, max_iter: int = 300, noise_space: bool = True,
                 max_clusterings: int = 2, random_state: int = 0, k_range=K_RANGE, k_criterion: str = "auto"):
        self.n_clusters = n_clusters
        self.n_init, self.max_iter, self.noise_space = n_init, max_iter, noise_space
        self.max_clusterings = max_clusterings
        self.random_state = random_state
        self.k_range, self.k_criterion = k_range, k_criterion

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, X, y=None):
        X = self._check_X(X)
        ks = check_ks(self.n_clusters, len(X))
        if self.k_criterion not in K_CRITERIA:
            raise UserError(f"cluster.k_criterion={self.k_criterion!r}: cluster=nrkmeans chooses its ks by "
                            f"mdl (auto); choose from {', '.join(K_CRITERIA)}")
        for key, value, low in (("n_init", self.n_init, 1), ("max_iter", self.max_iter, 1),
                                ("max_clusterings", self.max_clusterings, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise UserError(f"cluster.{key}={value!r} must be an integer >= {low}")
        mean = X.mean(axis=0)
        if not np.ptp(X, axis=0).any():
            raise UserError("cluster=nrkmeans: every item is the same point in this representation (nothing to "
                            "cluster)")
        span = self._span(X - mean)
        R = (X - mean) @ span                      # the items in the span of the centred data
        self.k_chosen_, self.k_criterion_, self.k_curve_, self.search_ = None, "", None, []
        self.note_ = ""
        if ks == "auto":
            ks, run = self._search(R)
            self.k_criterion_ = "mdl"
            tried = candidates(self.k_range, len(X))
            self.note_ = (f"k={list(ks)} chosen by mdl over {len(self.search_)} combinations "
                          f"(1..{self.max_clusterings} clusterings, k {tried[0]}..{tried[-1]})")
        else:
            run = self._best_run(R, ks)
        self._keep(run, ks, span, mean, R)
        return self

    @staticmethod
    def _span(Xc: np.ndarray) -> np.ndarray:
        """Orthonormal basis (d x r) of the rows of the centred data (r = its rank)."""
        _, s, vt = np.linalg.svd(Xc, full_matrices=False)
        r = int((s > s[0] * max(Xc.shape) * np.finfo(float).eps).sum()) if len(s) and s[0] > 0 else 0
        return vt[:max(r, 1)].T

    def _spaces(self, ks) -> list[int]:
        return [*ks, 1] if self.noise_space else list(ks)

    def _best_run(self, R: np.ndarray, ks) -> Run:
        """The cheapest of `n_init` runs (the paper's cost, label-free)."""
        rng = np.random.default_rng(self.random_state)
        seeds = rng.integers(0, 2**31 - 1, size=self.n_init)
        best = None
        for seed in seeds:
            run = _run(R, self._spaces(ks), np.random.default_rng(seed), self.max_iter)
            if best is None or run.cost() < best.cost():
                best = run
        return best

    def _search(self, R: np.ndarray) -> tuple[tuple[int, ...], Run]:
        """`n_clusters=auto`: the combination of ks with the lowest description length."""
        ks_all = candidates(self.k_range, len(R))
        best = None
        for n in range(1, self.max_clusterings + 1):
            for combo in itertools.combinations_with_replacement(sorted(ks_all, reverse=True), n):
                run = self._best_run(R, combo)
                ks_kept = tuple(k for i, k in enumerate(combo) if i not in run.lost)
                bits = description_length(R, run, self._spaces(ks_kept))
                self.search_.append(Trial(tuple(combo), bits))
                if best is None or bits < best[0]:
                    best = (bits, combo, run)
        self.mdl_ = best[0]
        return best[1], best[2]

    def _keep(self, run: Run, ks, span: np.ndarray, mean: np.ndarray, R: np.ndarray) -> None:
        """Fitted attributes in the input space, from a run in the reduced space."""
        spaces = self._spaces(ks)
        names = [f"s{i + 1}" for i in range(len(ks))]
        kept = [i for i in range(len(ks)) if i not in run.lost]
        subspaces = []
        for j, i in enumerate(kept):
            basis = span @ run.V[:, run.cols[j]]
            centers = run.centers[j] @ span.T + mean
            subspaces.append(Subspace(names[i], int(spaces[i]), basis, centers, run.labels[:, j].astype(int)))
        if self.k_criterion_ == "mdl":  # auto: largest k first, then the larger between-cluster scatter
            subspaces.sort(key=lambda s: (-s.k, -_between(R @ (span.T @ s.basis), s.labels)))
            for i, s in enumerate(subspaces):
                s.name = f"s{i + 1}"
        if not subspaces:
            raise UserError(f"cluster=nrkmeans: every clustering of n_clusters={list(ks)} lost its subspace "
                            f"(the data show no cluster structure for these ks)")
        self.subspaces_ = subspaces
        self.clusterings_ = {s.name: s.labels for s in subspaces}
        self.labels_ = subspaces[0].labels
        noise = span @ run.V[:, run.cols[-1]] if self.noise_space else np.zeros((len(mean), 0))
        self.noise_dim_ = int(noise.shape[1])
        self.rotation_ = np.hstack([*(s.basis for s in subspaces), noise])
        self.cost_, self.n_iter_ = run.cost(), run.n_iter
        if self.k_criterion_ != "mdl":
            self.mdl_ = description_length(R, run, [s.k for s in subspaces] + ([1] if self.noise_space else []))
        notes = [self.note_] if self.note_ else []
        notes.append("subspaces " + ", ".join(f"{s.name}: k={s.k}, {s.dim}-d" for s in subspaces)
                     + (f", noise {self.noise_dim_}-d" if self.noise_space else ""))
        if run.lost:
            notes.append("lost their subspace (no dimension left): "
                         + ", ".join(f"{names[i]} (k={spaces[i]})" for i in run.lost))
        self.note_ = "; ".join(notes)

    # -- new points ----------------------------------------------------------------------------------
    def assigner(self, X) -> Assigner:
        """The first clustering's rule (`subspaces_[i].assigner()` for the others)."""
        return self.subspaces_[0].assigner()


def _between(P: np.ndarray, labels: np.ndarray) -> float:
    """Between-cluster scatter (trace) of the projected items P."""
    mu = P.mean(axis=0)
    return float(sum((labels == c).sum() * ((P[labels == c].mean(axis=0) - mu) ** 2).sum() for c in np.unique(labels)))


# -- one run --------------------------------------------------------------------------------------------
def _run(R: np.ndarray, spaces: list[int], rng: np.random.Generator, max_iter: int) -> Run:
    """One NrKmeans run on the reduced items R (n x r); `spaces`: k per subspace, a trailing 1 = noise space."""
    n, r = R.shape
    V = ortho_group.rvs(r, random_state=rng) if r > 1 else np.ones((1, 1))
    cols = [np.asarray(c, dtype=int) for c in np.array_split(rng.permutation(r), len(spaces))]
    centers = [R.mean(axis=0, keepdims=True) if k == 1 else
               kmeans_plusplus(R, k, random_state=int(rng.integers(2**31 - 1)))[0] for k in spaces]
    labels = np.zeros((n, len(spaces)), dtype=int)
    noise = spaces[-1] == 1
    total = (R - R.mean(axis=0)).T @ (R - R.mean(axis=0))
    scatter = [total] * len(spaces)
    keep = list(range(len(spaces)))       # original index of each remaining subspace
    lost = []
    old = None
    it = 0
    for it in range(1, max_iter + 1):
        for j, k in enumerate(spaces):
            if k == 1:
                continue
            P = R @ V[:, cols[j]]
            C = centers[j] @ V[:, cols[j]]
            d2 = ((P[:, None, :] - C[None, :, :]) ** 2).sum(-1)
            lab = d2.argmin(1)
            lab = _fill_empty(lab, d2, k)
            labels[:, j] = lab
            centers[j] = np.stack([R[lab == c].mean(axis=0) for c in range(k)])
            D = R - centers[j][lab]
            scatter[j] = D.T @ D
        if old is not None and np.array_equal(labels, old):
            break
        old = labels.copy()
        for a in range(len(spaces) - 1):
            for b in range(a + 1, len(spaces)):
                both = np.concatenate([cols[a], cols[b]])
                if not len(both):
                    continue
                W = V[:, both]
                if noise and b == len(spaces) - 1:
                    V[:, both], neg = _noise_pair(W, R, centers[a], labels[:, a])
                else:
                    e, Q = np.linalg.eigh(W.T @ (scatter[a] - scatter[b]) @ W)
                    V[:, both], neg = W @ Q, int((e < 0).sum())
                cols[a], cols[b] = both[:neg], both[neg:]
        empty = [j for j, k in enumerate(spaces) if k > 1 and len(cols[j]) == 0]
        if empty:  # a clustering without dimensions is dropped (as in the reference implementation)
            lost += [keep[j] for j in empty]
            stay = [j for j in range(len(spaces)) if j not in empty]
            spaces, cols, keep = [spaces[j] for j in stay], [cols[j] for j in stay], [keep[j] for j in stay]
            centers, scatter = [centers[j] for j in stay], [scatter[j] for j in stay]
            labels, old = labels[:, stay], None
            if not any(k > 1 for k in spaces):
                break
    V, _ = np.linalg.qr(V) if r > 1 else (V, None)  # re-orthonormalise against drift over many rotations
    return Run(V, cols, centers, labels, scatter, it, sorted(lost))


def _noise_pair(W: np.ndarray, R: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, int]:
    """W rotated by the eigenvectors of W' (S_a - S_noise) W for a cluster space a and the noise space, and how
    many eigenvalues are negative (those columns come first). S_noise is the total scatter, so S_a - S_noise =
    -B_a, the between-cluster scatter of a, of rank k - 1 at most: its eigenvectors come from the SVD of the k
    weighted centre offsets (k x m) and the zero eigenvalues take any orthonormal completion (Householder
    reflections of those eigenvectors), instead of an m x m eigendecomposition."""
    counts = np.bincount(labels, minlength=len(centers))
    G = (np.sqrt(counts)[:, None] * (centers - R.mean(axis=0))) @ W
    _, sv, vt = np.linalg.svd(G, full_matrices=False)
    neg = int((sv ** 2 > EIG_TOL * sv[0] ** 2).sum()) if len(sv) and sv[0] > 0 else 0
    h, tau = np.linalg.qr(vt[:neg].T, mode="raw")   # Q = H_1 ... H_neg, Q[:, :neg] spans the eigenvectors
    W = W.copy()
    for i in range(neg):
        v = np.concatenate([np.zeros(i), [1.0], h[i, i + 1:]])
        W -= tau[i] * np.outer(W @ v, v)
    return W, neg


def _fill_empty(lab: np.ndarray, d2: np.ndarray, k: int) -> np.ndarray:
    """An empty cluster takes the item farthest from its own centre (scikit-learn's rule); keeps k as asked."""
    lab = lab.copy()
    for c in range(k):
        if not (lab == c).any():
            own = d2[np.arange(len(lab)), lab]
            counts = np.bincount(lab, minlength=k)
            own[counts[lab] <= 1] = -np.inf      # never empty another cluster
            lab[int(own.argmax())] = c
    return lab


# -- description length (AutoNR) -----------------------------------------------------------------------
def integer_bits(n: int) -> float:
    """Rissanen's universal code length of a positive integer, in bits."""
    bits, x = np.log2(RISSANEN_C), float(n)
    x = np.log2(x) if x > 0 else 0.0
    while x > 0:
        bits += x
        x = np.log2(x)
    return float(bits)


def description_length(R: np.ndarray, run: Run, spaces: list[int]) -> float:
    """Bits to send the items R with this clustering (AutoNR's MDL cost, without outliers): per subspace its
    dimensionality, k, k centres (uniform over the data's extent at the data's precision), one variance, each
    item's cluster id, and the items' coordinates under a spherical Gaussian around their centre."""
    n = len(R)
    extent = max(_diameter(R), 1e-12)
    precision = _precision(R)
    bits = integer_bits(len(spaces))
    for c, S, k in zip(run.cols, run.scatter, spaces):
        m = len(c)
        bits += integer_bits(m) + integer_bits(k) + 0.5 * np.log2(n)
        bits += k * m * (np.log2(extent) - np.log2(precision))
        bits += n * np.log2(k)
        trace = float(np.trace(run.V[:, c].T @ S @ run.V[:, c])) if m else 0.0
        if m and trace > 1e-15:
            bits += n * m / 2 * np.log2(2 * np.pi * np.e * trace / (n * m))
        bits += n * m * -np.log2(precision)
    return float(bits)


def _diameter(R: np.ndarray, block: int = 2048) -> float:
    """Largest distance between two items (in blocks: no n x n matrix)."""
    from scipy.spatial.distance import cdist

    return float(max(cdist(R[i:i + block], R).max() for i in range(0, len(R), block)))


def _precision(R: np.ndarray) -> float:
    """The data's precision: the mean over coordinates of the smallest non-zero gap between two items."""
    gaps = []
    for col in R.T:
        d = np.diff(np.unique(col))
        if len(d):
            gaps.append(d.min())
    return float(np.mean(gaps)) if gaps else 1.0
