"""Tests and intervals for a clinic's rate against a published figure that carries its own uncertainty.

A published rate is itself an estimate.  Treating it as exact (a one-sample
test) overstates significance: with a clinic and a published cohort of 424
drawn from one population, a one-sample test rejects about 17% of the time at
a nominal 5%.  The functions here are vectorised (numpy arrays in, arrays out)
so that the comparison and its simulation check share one implementation.

* :func:`fisher_exact_p` - two-sided Fisher's exact test of two binomial
  samples (R's ``fisher.test`` convention: tables no more probable than the
  observed one, relative tolerance 1e-7).
* :func:`wilson_limits` and :func:`difference_interval` - Newcombe's hybrid
  score interval (method 10) for a difference of two rates, i.e. the MOVER
  combination of each rate's own interval.
* :func:`loglog_std_error`, :func:`loglog_limits` and :func:`loglog_z_p` -
  a Wald test of two cumulative (Kaplan-Meier) figures on the complementary
  log-log scale ``log(-log(1 - F))``, the scale of the log-log interval.
* :func:`std_error_from_interval` - the standard error implied by a published
  95% interval on the scale it is symmetric on.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from .errors import DefinitionError

__all__ = [
    "CI_SCALES",
    "Z95",
    "fisher_exact_p",
    "wilson_limits",
    "difference_interval",
    "loglog_std_error",
    "loglog_limits",
    "loglog_z_p",
    "std_error_from_interval",
    "effective_sample_size",
]

#: Two-sided 95% normal quantile.
Z95 = float(stats.norm.ppf(0.975))
#: Scales a published 95% interval can be symmetric on (a published figure's ``ci_scale``).
CI_SCALES = ("identity", "logit", "loglog")
_RELATIVE_TOLERANCE = 1 + 1e-7  # as R's fisher.test


def fisher_exact_p(events_a, n_a, events_b, n_b) -> np.ndarray:
    """Two-sided Fisher's exact test p-value for each 2x2 table ``[[k_a, n_a-k_a], [k_b, n_b-k_b]]``.

    Conditions on both margins: the count in the smaller group is
    hypergeometric; the p-value sums the probabilities of every table no more
    probable than the observed one (times ``1 + 1e-7``), as R's ``fisher.test``
    and ``scipy.stats.fisher_exact`` do.  Arrays broadcast; NaN where a group is empty.
    """
    ka, na, kb, nb = np.broadcast_arrays(*(np.asarray(v, dtype="int64") for v in (events_a, n_a, events_b, n_b)))
    shape = ka.shape
    ka, na, kb, nb = (v.ravel() for v in (ka, na, kb, nb))
    # the smaller group's count is the hypergeometric variable (the p-value is symmetric in the groups)
    swap = na > nb
    k_small = np.where(swap, kb, ka)
    n_small = np.where(swap, nb, na)
    total = na + nb
    events = ka + kb
    out = np.full(ka.shape, np.nan)
    ok = (na > 0) & (nb > 0)
    if ok.any():
        x = np.arange(int(n_small[ok].max()) + 1)[None, :]
        m, big_n, draws = events[ok][:, None], total[ok][:, None], n_small[ok][:, None]
        logpmf = stats.hypergeom.logpmf(x, big_n, m, draws)
        observed = stats.hypergeom.logpmf(k_small[ok][:, None], big_n, m, draws)
        pmf = np.exp(logpmf)
        keep = logpmf <= observed + np.log(_RELATIVE_TOLERANCE)
        out[ok] = np.minimum(1.0, np.where(keep, pmf, 0.0).sum(axis=1))
    return out.reshape(shape)


def wilson_limits(events, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval limits for ``events / n`` (counts may be non-integer effective counts)."""
    k, n = np.broadcast_arrays(np.asarray(events, dtype="float64"), np.asarray(n, dtype="float64"))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def difference_interval(rate_a, low_a, high_a, rate_b, low_b, high_b) -> tuple[np.ndarray, np.ndarray]:
    """Interval for ``rate_a - rate_b`` from each rate's own 95% interval (MOVER; Newcombe 1998 method 10
    when both intervals are Wilson intervals):
    ``d - sqrt((a - l_a)^2 + (u_b - b)^2)`` to ``d + sqrt((u_a - a)^2 + (b - l_b)^2)``.
    """
    a, la, ua, b, lb, ub = (np.asarray(v, dtype="float64") for v in (rate_a, low_a, high_a, rate_b, low_b, high_b))
    d = a - b
    low = d - np.sqrt((a - la) ** 2 + (ub - b) ** 2)
    high = d + np.sqrt((ua - a) ** 2 + (b - lb) ** 2)
    return np.maximum(low, -1.0), np.minimum(high, 1.0)


def _cloglog(cumulative):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(-np.log1p(-np.asarray(cumulative, dtype="float64")))


def loglog_std_error(cumulative, std_error) -> np.ndarray:
    """Standard error of ``log(-log S)`` from the standard error of ``F = 1 - S`` (delta method).

    ``se / (S |log S|)``; NaN where ``F`` is 0 or 1 (the scale is undefined there).
    """
    s = 1.0 - np.asarray(cumulative, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(std_error, dtype="float64") / (s * np.abs(np.log(s)))
    return np.where((s > 0) & (s < 1), out, np.nan)


def loglog_limits(cumulative, loglog_se, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The log-log 95% interval of a cumulative figure ``F``: ``1 - S^exp(-/+ z se)`` (as Kaplan-Meier's)."""
    s = 1.0 - np.asarray(cumulative, dtype="float64")
    se = np.asarray(loglog_se, dtype="float64")
    return 1.0 - s ** np.exp(-z * se), 1.0 - s ** np.exp(z * se)


def loglog_z_p(cumulative_a, loglog_se_a, cumulative_b, loglog_se_b) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wald test of two cumulative figures on the log-log scale.

    ``z = (log(-log S_a) - log(-log S_b)) / sqrt(se_a^2 + se_b^2)`` (the scale
    increases with ``F``, so z > 0 means a above b).  Returns ``(z, p)``; NaN
    where either figure is 0 or 1 or a standard error is missing.
    """
    se = np.sqrt(np.asarray(loglog_se_a, dtype="float64") ** 2 + np.asarray(loglog_se_b, dtype="float64") ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (_cloglog(cumulative_a) - _cloglog(cumulative_b)) / se
    z = np.where(np.isfinite(z) & (se > 0), z, np.nan)
    return z, 2 * stats.norm.sf(np.abs(z))


def std_error_from_interval(rate, low, high, *, scale: str, z: float = Z95) -> float:
    """Standard error implied by a 95% interval, on the scale named.

    ``scale`` is ``"identity"`` (an interval symmetric about the rate, such as
    "45% +/- 10": ``(high - low) / 2z``, a standard error of the rate itself),
    ``"logit"`` (symmetric on the log-odds scale: the standard error of
    ``logit(rate)``) or ``"loglog"`` (a Kaplan-Meier log-log interval: the
    standard error of ``log(-log(1 - rate))``).
    """
    if scale == "identity":
        return (high - low) / (2 * z)
    if scale == "logit":
        return float((np.log(high / (1 - high)) - np.log(low / (1 - low))) / (2 * z))
    if scale == "loglog":
        return float((_cloglog(high) - _cloglog(low)) / (2 * z))
    raise DefinitionError(f"scale={scale!r} is not a known interval scale; use one of {', '.join(CI_SCALES)}.")


def effective_sample_size(rate, std_error):
    """The binomial n whose standard error at ``rate`` equals ``std_error``: ``rate (1 - rate) / se^2``."""
    return np.asarray(rate, dtype="float64") * (1 - np.asarray(rate, dtype="float64")) / \
        np.asarray(std_error, dtype="float64") ** 2
