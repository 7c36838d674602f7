"""Monte Carlo model-RIP estimator (eq. 1) and the bound of Theorem 3.3.

``Φ = Wᵀ`` has the model-RIP with constant ``δ_k`` when
``(1 − δ_k)‖z‖² ≤ ‖Wᵀ z‖² ≤ (1 + δ_k)‖z‖²`` for every ``z`` in the model. Sampling supports
cannot certify ``δ_k`` (it is a maximum over all supports): every figure here is a **lower
bound** on it. Two lower bounds are reported, both by :func:`delta_lower_bound_from`:

- from random codes ``z`` (Uniform[−1, 1] non-zeros, as the paper's Fig. 2): the extremes of
  ``‖Wᵀz‖² / ‖z‖²`` — typical ratios, a weak bound;
- from the extreme Rayleigh quotients ``zᵀ G_S z / ‖z‖²`` of the restricted Gram ``G_S`` of every
  sampled support ``S``: ``δ_k ≥ max(1 − eig_min, eig_max − 1)`` — the worst code on each
  sampled support. For a signed model these are the exact extreme eigenvalues
  ``λ_min(G_S), λ_max(G_S)`` (``eigvalsh``). For a **non-negative** model only codes ``z ≥ 0``
  are in the model, and the extreme eigenvectors of ``G_S`` may have mixed signs (then they are
  no codes of the model and ``eigvalsh`` would overstate δ): ``eig_min``/``eig_max`` are then
  the extremes of the Rayleigh quotient over the non-negative orthant of ``S``, found by a
  projected ascent (:func:`orthant_extremes`); every code it visits is a code of the model,
  so the bound stays a lower bound (the ascent may stop short of the orthant extreme, which
  only weakens it).

:func:`sample_model_rip` is the pure kernel (no checks; jit/vmap/shard-able, static
configuration as Python values); :func:`estimate_model_rip` checks its arguments and runs the
kernel under ``jax.jit``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcs._files import write_json
from jaxcs._progress import progress_bar
from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_choice, check_key, concrete_int, is_traced, positive_int
from jaxcs.analysis.masked_spectrum import DEFAULT_STEPS, masked_extremes
from jaxcs.analysis.small_eigen import extreme_eigenvalues
from jaxcs.analysis.statistics import (
    DEFAULT_BINS,
    DEFAULT_RANGE,
    Statistics,
    monte_carlo,
    summarize_samples,
)
from jaxcs.models import AbstractSparsityModel, SparseCode, check_model
from jaxcs.operators import check_operator, restricted_gram
from jaxcs.status import Status

METHODS = ("auto", "gram", "conv")
EIGEN_METHODS = ("auto", "dense", "lanczos")
MAX_EXACT_EIGEN_K = 1024  # the dense path's k × k Gram per sample; beyond this, Lanczos only
EIGH_COST_FACTOR = 4  # multiply-adds of a k × k eigvalsh, in units of k³
AUTO_PROGRESS_COST = 10**10  # estimated multiply-adds beyond which progress="auto" shows a bar
CHUNK_BUDGET = 2**23  # array elements of per-chunk temporaries (32 MiB in float32)
MAX_CHUNK = 8192
# The Lanczos path's convolutions run once per step on the whole chunk, and batches of a few
# hundred codes fall out of cache: on 2 CPU cores, for the 3×3 16→32 16×16 layer with k = 512
# and 32 steps, method="conv" took 5.2 ms per code at the 367-code chunk of CHUNK_BUDGET and
# 3.1 ms at 29 or 64 codes (method="gram", whose chunk was 29, 4.0 ms). So its automatic
# chunks hold at most this many codes (the Lanczos cases of
# benchmarks/results/rip_method_choice_cpu.json ran with this cap).
LANCZOS_MAX_CHUNK = 64
ORTHANT_STEPS = 50  # projected-ascent steps per support for the extremes of a non-negative model
# Calibration of method="auto" (choose_method), from benchmarks/rip_method_choice.py and its
# results, benchmarks/results/rip_method_choice_cpu.json (2 CPU cores; the Fig. 2 layer, 3×3
# 16→32 on 16×16 and 3×3 64→64 on 32×32, k = 10 … 512): one gathered entry of a restricted Gram
# takes as long as this many multiply-adds of the layer's two convolutions, by padding. Each is
# inside the interval that makes auto pick, on every measured case, the faster method or one
# within 10 % of it ("valid" 93–110, "same" 107–240, "circular" 9–144; near the ends the
# measurements of one case differ by ±30 % between runs on a shared machine): XLA's CPU convolutions
# are 2–3× faster with "same" padding than with "valid" or "circular" (wrap and fold), and a
# "same" entry also gathers its border box.
GRAM_ENTRY_COST = {"valid": 100, "same": 160, "circular": 20}
DEFAULT_GRAM_ENTRY_COST = 100  # other operators: a plain gather, as "valid" (not measured)
QUANTITIES = ("ratio_wt", "ratio_wwt", "ratio_wwt_full", "eig_min", "eig_max", "eig_residual")


def delta_lower_bound_from(eig_min, eig_max):
    """``max(1 − eig_min, eig_max − 1)``: the δ that extreme quotients ``‖Φz‖²/‖z‖²`` imply.

    The one formula behind every δ of jaxcs (:attr:`RIPEstimate.delta_lower_bound`, its
    random-code variant from the squared ratios ``‖Wᵀz‖²/‖z‖²``, and the Fig. 2 report). A
    quotient observed on a code of the model gives a lower bound on that model's ``δ``.

    Args:
        eig_min, eig_max: smallest and largest observed quotient, broadcastable arrays or
            Python/NumPy numbers. A non-finite entry (NaN, or the ``+inf``/``−inf`` of
            :class:`Statistics` without any finite sample) means "unknown".

    Returns:
        The bound, of the broadcast shape: NaN where either input is not finite. A JAX array
        when either input is one (jit-able), else a NumPy float64 array (so that Python floats
        are not rounded to float32).
    """
    xp = jnp if isinstance(eig_min, jax.Array) or isinstance(eig_max, jax.Array) else np
    lo, hi = xp.asarray(eig_min), xp.asarray(eig_max)
    bound = xp.maximum(1 - lo, hi - 1)
    return xp.where(xp.isfinite(lo) & xp.isfinite(hi), bound, xp.nan)


class RIPEstimate(Pytree):
    """Result of :func:`estimate_model_rip` / :func:`sample_model_rip` (a pytree: it comes out
    of ``jit``/``vmap``, with a leading batch axis on every leaf under ``vmap``).

    Every δ here is a **lower bound**: δ is a maximum over *all* supports, and only
    ``num_samples`` random supports were looked at.

    Attributes:
        ratio_wt: :class:`Statistics` of ``‖Wᵀz‖ / ‖z‖`` (Fig. 2a).
        ratio_wwt: of ``‖(W Wᵀ z)_S‖ / ‖z‖ = ‖G_S z_S‖ / ‖z_S‖``, restricted to the support
            ``S`` of ``z`` (Fig. 2b; the quantity the RIP makes ≈ 1).
        ratio_wwt_full: of the unrestricted ``‖W Wᵀ z‖ / ‖z‖`` (``None`` unless requested).
        eig_min, eig_max: of the smallest and largest Rayleigh quotient ``zᵀ G_S z / ‖z‖²`` over
            the codes of the model on each sampled support ``S`` (``None`` unless eigenvalues
            were requested). Signed model: ``λ_min(G_S)``, ``λ_max(G_S)`` (exact on the dense
            path; Ritz values, inside them, on the Lanczos path).
            Non-negative model: the extremes over ``z ≥ 0`` only (the non-negative orthant of
            ``S``), the best that a projected ascent found (:func:`orthant_extremes`): never
            beyond the orthant's true extremes, so still a valid lower bound on δ.
        eig_residual: on the Lanczos path, of the larger Lanczos residual of each support's two
            extreme Ritz pairs, else ``None``: a diagnostic of convergence, not a bound. *Some*
            eigenvalue lies within the residual of its Ritz value, not necessarily the extreme
            one (a dense spectral edge, or a start with little weight on the extreme
            eigenvector); the Ritz values themselves stay valid lower bounds on δ (see
            :mod:`jaxcs.analysis.masked_spectrum`).
        status: ``int32`` :class:`~jaxcs.Status` code: ``NONFINITE`` when the operator has a
            non-finite entry or any sample of any quantity (``extra`` included) was non-finite
            (each counted in its ``Statistics.nonfinite``), else ``COMPLETED``.
        num_samples: number of sampled codes (``int32``).
        samples: ``{name: (N,) array}`` of every quantity (``extra`` included) when samples
            were kept (``N`` of them), else ``None``.
        extra: ``{name: Statistics}`` of the additional per-code quantities of
            :func:`sample_model_rip`'s ``extra``, or ``None`` when none were asked for.
        eigen_method: the eigenvalue path that ran, ``"dense"`` or ``"lanczos"`` (``None``
            without eigenvalues; static).
        method: how the ratios were computed, ``"gram"`` or ``"conv"`` (what
            ``method="auto"`` resolved to; static).

    Saved with :meth:`to_json` (every field, exactly), loaded with :meth:`from_json`.
    """

    ratio_wt: Statistics
    ratio_wwt: Statistics
    ratio_wwt_full: Statistics | None
    eig_min: Statistics | None
    eig_max: Statistics | None
    status: jax.Array
    num_samples: jax.Array
    samples: dict | None
    extra: dict | None
    eig_residual: Statistics | None = None
    eigen_method: str | None = static_field(default=None)
    method: str | None = static_field(default=None)

    @classmethod
    def of(
        cls,
        stats: dict,
        operator_finite,
        num_samples,
        samples,
        extra: bool = False,
        eigen_method: str | None = None,
        method: str | None = None,
    ) -> RIPEstimate:
        """From the Monte Carlo statistics by name (the names of :data:`QUANTITIES` and, when
        ``extra``, those of the additional quantities), whether the operator is finite, the
        eigenvalue path taken (``"dense"``, ``"lanczos"`` or ``None``) and the ratio method
        (``"gram"``, ``"conv"`` or ``None``)."""
        nonfinite = sum(jnp.sum(s.nonfinite) for s in stats.values())
        status = jnp.where(
            jnp.asarray(operator_finite) & (nonfinite == 0), Status.COMPLETED, Status.NONFINITE
        ).astype(jnp.int32)
        others = {name: s for name, s in stats.items() if name not in QUANTITIES}
        return cls(
            stats["ratio_wt"],
            stats["ratio_wwt"],
            stats.get("ratio_wwt_full"),
            stats.get("eig_min"),
            stats.get("eig_max"),
            status,
            jnp.asarray(num_samples, jnp.int32),
            samples,
            others if extra else None,
            stats.get("eig_residual"),
            eigen_method,
            method,
        )

    @property
    def delta_lower_bound(self):
        """Lower bound on ``δ_k``: from the per-support extreme quotients ``eig_min``/``eig_max``
        when computed (exact eigenvalues, or the orthant extremes of a non-negative model),
        else from the random-code ratios (see the module docstring). NaN without any finite
        sample."""
        if self.eig_min is None or self.eig_max is None:  # both or neither were computed
            return self.delta_lower_bound_random_z
        return delta_lower_bound_from(self.eig_min.min, self.eig_max.max)

    @property
    def delta_lower_bound_random_z(self):
        """Lower bound on ``δ_k`` from ``‖Wᵀz‖²/‖z‖²`` of the random codes alone."""
        return delta_lower_bound_from(self.ratio_wt.min**2, self.ratio_wt.max**2)

    def summary(self) -> dict | list:
        """Python numbers for reports and JSON (not jit-able). ``status`` is reported by name.
        Quantiles come from the kept samples when there are any (exact), else from the
        histograms (one bin width). A ``vmap`` batch of estimates gives a list (nested for
        several batch axes) of the per-estimate dicts."""
        batch = np.shape(self.num_samples)
        if batch:
            return [jax.tree.map(lambda a, i=i: a[i], self).summary() for i in range(batch[0])]
        out = {"num_samples": int(self.num_samples), "status": Status(int(self.status)).name}
        for name in QUANTITIES:
            stats = getattr(self, name)
            if stats is not None:
                out[name] = self._summarize(name, stats)
        if self.extra is not None:
            out["extra"] = {name: self._summarize(name, s) for name, s in self.extra.items()}
        out["delta_lower_bound"] = float(self.delta_lower_bound)
        out["delta_lower_bound_random_z"] = float(self.delta_lower_bound_random_z)
        out["delta_kind"] = self.delta_kind
        out["method"] = self.method
        out["eigen_method"] = self.eigen_method
        return out

    def __repr__(self) -> str:
        """One readable line: the δ bound and its kind, the codes, the status (per estimate
        of a batch); the field-by-field form inside a trace."""
        try:
            delta = np.asarray(self.delta_lower_bound, np.float64)
            count = np.asarray(self.num_samples)
            mean = np.asarray(self.ratio_wt.mean, np.float64)
            status = np.asarray(self.status)
        except (TypeError, jax.errors.TracerArrayConversionError):
            return super().__repr__()
        if delta.ndim:

            def show(a):
                return np.array2string(a, precision=4, threshold=8, separator=", ")

            names = np.vectorize(lambda c: Status(int(c)).name)(status) if status.size else status
            return (
                f"RIPEstimate(batch {delta.shape}: delta_lower_bound={show(delta)} "
                f"({self.delta_kind}), method={self.method}, num_samples={show(count)}, "
                f"ratio_wt mean={show(mean)}, status={show(names)})"
            )
        return (
            f"RIPEstimate(delta_lower_bound={float(delta):.4f} ({self.delta_kind}), "
            f"method={self.method}, num_samples={int(count)}, ratio_wt mean={float(mean):.4f}, "
            f"status={Status(int(status)).name})"
        )

    @property
    def delta_kind(self) -> str:
        """What :attr:`delta_lower_bound` is made of: ``"support extremes (dense)"`` (exact
        per-support extremes), ``"support extremes (lanczos)"`` (Ritz values) or
        ``"random codes"`` (the much weaker bound from the sampled codes' ratios alone)."""
        if self.eig_min is None:
            return "random codes"
        return f"support extremes ({self.eigen_method or 'dense'})"

    def _summarize(self, name: str, stats: Statistics) -> dict:
        if self.samples is not None and name in self.samples:
            return summarize_samples(self.samples[name])
        return stats.summary()

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """Every field as JSON-ready Python values (not jit-able), for :meth:`from_dict`.

        ``{"format": "jaxcs.RIPEstimate", "version": 1, "method", "eigen_method",
        "delta_kind", "batch_shape", "fields", "summary"}``: ``fields`` holds every leaf
        (each :class:`Statistics` with its histogram and ``histogram_range``, ``status``,
        ``num_samples``, ``samples``, ``extra``) as ``{"dtype", "shape", "data"}`` with the
        values flattened in C order, exactly (floats are written with the shortest decimal
        that reads back to the same value); a ``vmap`` batch keeps its leading axes.
        ``summary`` is :meth:`summary`, for readers (the loader ignores it). JSON has no NaN
        or infinity: non-finite floats are written as the strings ``"NaN"``, ``"Infinity"``
        and ``"-Infinity"`` (in ``data`` and in ``summary``), so the text is strict JSON.

        Raises:
            TypeError: the estimate holds traced values (call it outside ``jit``/``vmap``).
        """
        try:
            fields = {name: _encode_field(getattr(self, name)) for name in self.leaf_fields()}
            summary = _encode_floats(self.summary())
        except jax.errors.TracerArrayConversionError:
            raise TypeError(
                "RIPEstimate.to_dict needs concrete values: call it on the result of a jitted "
                "or vmapped computation, not inside one"
            ) from None
        return {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "method": self.method,
            "eigen_method": self.eigen_method,
            "delta_kind": self.delta_kind,
            "batch_shape": list(np.shape(self.num_samples)),
            "fields": fields,
            "summary": summary,
        }

    @classmethod
    def from_dict(cls, data: dict) -> RIPEstimate:
        """The estimate that :meth:`to_dict` gave ``data``: every field as it was (JAX arrays
        of the saved dtypes and shapes; a float64 array stays a NumPy array while x64 is off,
        so that nothing is rounded), non-finite values included.

        Raises:
            ValueError: ``data`` is not a saved :class:`RIPEstimate` (of this version), or a
                field is not what :meth:`to_dict` writes (an unknown ``method`` or
                ``eigen_method``, a non-numeric dtype, a shape that does not match the data,
                values that are not numbers of the dtype); the message names the key.
        """
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            raise ValueError(
                f"not a saved RIPEstimate: expected a dict with format {JSON_FORMAT!r}; got "
                f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}"
            )
        if data.get("version") != JSON_VERSION:
            raise ValueError(
                f"saved RIPEstimate has version {data.get('version')!r}; this jaxcs reads "
                f"version {JSON_VERSION}"
            )
        for key, allowed in (("method", SAVED_METHODS), ("eigen_method", SAVED_EIGEN_METHODS)):
            if data.get(key) not in allowed:
                raise ValueError(
                    f"saved RIPEstimate key {key!r} must be one of {list(allowed)}; got "
                    f"{data.get(key)!r}"
                )
        fields = data.get("fields", {})
        if not isinstance(fields, dict):
            raise ValueError(f"saved RIPEstimate key 'fields' must be a dict; got {fields!r:.80}")
        missing = [name for name in cls.leaf_fields() if name not in fields]
        if missing:
            raise ValueError(f"saved RIPEstimate lacks the fields {missing}")
        # by field name: a Statistics, a dict of them, an array or None
        leaves: dict[str, Any] = {
            name: _decode_field(fields[name], name) for name in cls.leaf_fields()
        }
        batch = data.get("batch_shape", list(np.shape(leaves["num_samples"])))
        for name in ("status", "num_samples"):
            array = np.asarray(leaves[name])
            if array.dtype != np.int32 or list(array.shape) != batch:
                raise ValueError(
                    f"saved RIPEstimate field {name!r} must be int32 of the batch shape {batch}; "
                    f"got {array.dtype} {list(array.shape)}"
                )
        codes = {int(s) for s in Status if s is not Status.RUNNING}
        bad = sorted(set(np.asarray(leaves["status"]).ravel().tolist()) - codes)
        if bad:
            raise ValueError(
                f"saved RIPEstimate field 'status' holds {bad}, not Status codes {sorted(codes)}"
            )
        if np.any(np.asarray(leaves["num_samples"]) < 0):
            raise ValueError("saved RIPEstimate field 'num_samples' must be >= 0")
        return cls(**leaves, eigen_method=data.get("eigen_method"), method=data.get("method"))

    def to_json(self, path: str | Path | None = None) -> str | Path:
        """:meth:`to_dict` as strict JSON: the text when ``path`` is ``None``, else written
        to ``path`` atomically (as :func:`jaxcs.io.write_json`: an interrupted write never
        leaves a partial file) and the path returned. Load it with :meth:`from_json`."""
        data = self.to_dict()
        if path is None:
            return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
        return write_json(path, data)

    @classmethod
    def from_json(cls, path: str | Path) -> RIPEstimate:
        """The estimate saved by :meth:`to_json` at ``path`` (see :meth:`from_dict`).

        Raises:
            ValueError: ``path`` is not JSON, or not a saved estimate (the message names the
                file and the key).
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a saved RIPEstimate (not JSON: {error})") from None
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


JSON_FORMAT = "jaxcs.RIPEstimate"
JSON_VERSION = 1
SAVED_METHODS = ("gram", "conv", None)  # what a saved estimate may say it ran
SAVED_EIGEN_METHODS = ("dense", "lanczos", None)
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_float(x: float):
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _encode_floats(value):
    """``value`` (nested dicts, lists, numbers) with its non-finite floats as strings."""
    if isinstance(value, dict):
        return {key: _encode_floats(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_floats(v) for v in value]
    if isinstance(value, float):
        return _encode_float(value)
    return value


def _encode_array(value) -> dict:
    array = np.asarray(value)
    if array.dtype.kind == "f":
        data = [_encode_float(x) for x in array.astype(np.float64).ravel().tolist()]
    else:
        data = array.ravel().tolist()
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": data}


def _encode_field(value):
    if value is None:
        return None
    if isinstance(value, Statistics):
        return {
            "statistics": {
                name: _encode_array(getattr(value, name)) for name in value.leaf_fields()
            },
            "histogram_range": [_encode_float(float(r)) for r in value.histogram_range],
        }
    if isinstance(value, dict):
        return {"dict": {str(name): _encode_field(v) for name, v in value.items()}}
    return _encode_array(value)


def _decode_array(data: dict, name: str):
    where = f"saved RIPEstimate field {name!r}"
    missing = [key for key in ("dtype", "shape", "data") if key not in data]
    if missing:
        raise ValueError(f"{where} is not an array: it lacks {missing}")
    try:
        dtype = jnp.dtype(data["dtype"])
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "fiub" or not isinstance(data["dtype"], str):
        raise ValueError(
            f"{where}: dtype must be a numeric dtype (float, int, uint or bool); got "
            f"{data['dtype']!r}"
        )
    shape, values = data["shape"], data["data"]
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ValueError(f"{where}: shape must be a list of ints >= 0; got {shape!r:.80}")
    if not isinstance(values, list) or len(values) != math.prod(shape):
        count = len(values) if isinstance(values, list) else type(values).__name__
        raise ValueError(
            f"{where}: data must be a list of {math.prod(shape)} values (shape {shape}); got "
            f"{count}"
        )
    if dtype.kind == "f":
        values = [_NONFINITE.get(x, x) if isinstance(x, str) else x for x in values]
        ok = all(isinstance(x, int | float) and not isinstance(x, bool) for x in values)
        what = "numbers (or 'NaN', 'Infinity', '-Infinity')"
    elif dtype.kind == "b":
        ok, what = all(isinstance(x, bool) for x in values), "true or false"
    else:
        info = np.iinfo(dtype)
        ok = all(
            isinstance(x, int) and not isinstance(x, bool) and info.min <= x <= info.max
            for x in values
        )
        what = f"integers in [{info.min}, {info.max}]"
    if not ok:
        raise ValueError(f"{where}: data of dtype {dtype.name} must hold {what}")
    array = np.asarray(values, dtype=np.float64 if dtype.kind == "f" else dtype)
    array = array.astype(dtype).reshape(tuple(shape))
    # a JAX array unless JAX would change its dtype (float64 with x64 off stays NumPy)
    return jnp.asarray(array) if jax.dtypes.canonicalize_dtype(dtype) == dtype else array


def _decode_field(data, name: str):
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"saved RIPEstimate field {name!r} is not a dict; got {data!r:.80}")
    if "statistics" in data:
        stats = data["statistics"]
        if not isinstance(stats, dict):
            raise ValueError(f"saved RIPEstimate field {name!r}: statistics must be a dict")
        missing = [leaf for leaf in Statistics.leaf_fields() if leaf not in stats]
        if missing or not isinstance(data.get("histogram_range"), list):
            raise ValueError(
                f"saved RIPEstimate field {name!r} lacks {missing or ['histogram_range']}"
            )
        # JAX arrays, or NumPy arrays of a dtype that JAX would change (float64 with x64 off)
        leaves: dict[str, Any] = {
            leaf: _decode_array(stats[leaf], f"{name}.{leaf}") for leaf in Statistics.leaf_fields()
        }
        # JSON values: numbers, or the strings of _NONFINITE (checked below)
        bounds: tuple[Any, ...] = tuple(_NONFINITE.get(r, r) for r in data["histogram_range"])
        if (
            len(bounds) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            or not bounds[0] < bounds[1]
        ):
            raise ValueError(
                f"saved RIPEstimate field {name!r}.histogram_range must be two numbers lo < hi; "
                f"got {data['histogram_range']!r:.80}"
            )
        return Statistics(**leaves, histogram_range=bounds)
    if "dict" in data:
        if not isinstance(data["dict"], dict):
            raise ValueError(f"saved RIPEstimate field {name!r}: 'dict' must be a dict")
        return {key: _decode_field(v, f"{name}.{key}") for key, v in data["dict"].items()}
    return _decode_array(data, name)


def _check_num_samples(num_samples) -> int:
    num_samples = positive_int(num_samples, "num_samples")
    if num_samples >= 2**31:
        raise ValueError(f"num_samples must be in [1, 2**31 - 1]; got {num_samples}")
    return num_samples


def _auto_chunk(op, model, use_gram: bool, use_conv: bool, lanczos: bool = False) -> int:
    code_shape = tuple(op.out_shape)
    per_sample = model.sampling_cost(code_shape)
    if use_gram:
        per_sample += op.restricted_gram_cost(model.num_slots(code_shape))
    if use_conv:
        per_sample += 2 * (math.prod(op.out_shape) + math.prod(op.in_shape))
    chunk = int(max(1, min(MAX_CHUNK, CHUNK_BUDGET // per_sample)))
    return min(chunk, LANCZOS_MAX_CHUNK) if lanczos else chunk


def chunk_bucket(num_samples: int) -> int:
    """The chunk that ``num_samples`` codes need at most: the power of two ``≥ num_samples``.

    The default chunk is ``min(automatic chunk, chunk_bucket(num_samples))``: a run smaller
    than one automatic chunk masks the tail of one power-of-two chunk, so the ``num_samples``
    of a sweep fall in a few buckets (one compiled program each) instead of compiling a
    program per value.
    """
    return 1 << (int(num_samples) - 1).bit_length()


def gram_entry_cost(op) -> int:
    """Multiply-adds of ``op``'s convolutions that take as long as one element of its
    :meth:`~jaxcs.AbstractOperator.restricted_gram_cost` (a gathered Gram entry):
    :data:`GRAM_ENTRY_COST` by ``op.padding``, else :data:`DEFAULT_GRAM_ENTRY_COST`."""
    padding = getattr(op, "padding", None)
    if not isinstance(padding, str):
        return DEFAULT_GRAM_ENTRY_COST
    return GRAM_ENTRY_COST.get(padding, DEFAULT_GRAM_ENTRY_COST)


def sample_cost(
    op, capacity: int, method: str, eigen_method, lanczos_steps: int, full_ratio: bool = False
) -> int:
    """Modelled cost per sampled code of :func:`estimate_model_rip`, in multiply-adds of the
    operator's convolutions: ``2 · mv_cost`` for the two convolutions (``method="conv"`` or
    ``full_ratio``), ``gram_entry_cost(op) · restricted_gram_cost(capacity)`` for the
    restricted Gram (``method="gram"`` or the dense eigenvalue path; gathered once for
    both), plus the eigenvalues (``EIGH_COST_FACTOR · k³`` dense; ``lanczos_steps`` steps of
    two convolutions each on the Lanczos path)."""
    conv = 2 * op.mv_cost()
    cost = 0
    if method == "gram" or eigen_method == "dense":
        cost += gram_entry_cost(op) * op.restricted_gram_cost(capacity)
    if method == "conv" or full_ratio:
        cost += conv
    if eigen_method == "dense":
        cost += EIGH_COST_FACTOR * capacity**3
    elif eigen_method == "lanczos":
        cost += lanczos_steps * (conv + 4 * lanczos_steps * capacity)
    return cost


def choose_method(
    op,
    capacity: int,
    eigen_method=None,
    *,
    full_ratio: bool = False,
    lanczos_steps: int = DEFAULT_STEPS,
) -> str:
    """What ``method="auto"`` resolves to: ``"gram"`` or ``"conv"``, whichever has the lower
    :func:`sample_cost` for this operator, capacity, eigenvalue path (``"dense"``,
    ``"lanczos"`` or ``None`` without eigenvalues) and ``full_ratio`` (ties: ``"gram"``).

    The two convolutions cost ``2 · mv_cost`` (nothing more when ``full_ratio`` needs them
    anyway), the restricted Gram ``gram_entry_cost(op) · restricted_gram_cost(k)`` (nothing
    more on the dense eigenvalue path, which gathers it anyway): so ``"gram"`` wins at small
    ``k`` and ``"conv"`` beyond ``k ≈ sqrt(2 · mv_cost / gram_entry_cost)`` (on CPU, for a
    3×3 16→32 16×16 layer: about ``k = 120`` with ``"same"`` padding, ``135`` with
    ``"valid"``, ``340`` with ``"circular"``; ``k = 690`` for a 3×3 64→64 32×32 ``"same"``
    one).
    """
    costs = {
        method: sample_cost(op, capacity, method, eigen_method, lanczos_steps, full_ratio)
        for method in ("gram", "conv")
    }
    return "gram" if costs["gram"] <= costs["conv"] else "conv"


def choose_eigen_method(op, capacity: int, lanczos_steps: int) -> str:
    """``"dense"`` or ``"lanczos"``, whichever costs fewer estimated multiply-adds per support
    (the dense path only up to ``MAX_EXACT_EIGEN_K`` slots)."""
    if capacity > MAX_EXACT_EIGEN_K:
        return "lanczos"
    dense = op.restricted_gram_cost(capacity) + EIGH_COST_FACTOR * capacity**3
    lanczos = lanczos_steps * (2 * op.mv_cost() + 4 * lanczos_steps * capacity)
    return "dense" if dense <= lanczos else "lanczos"


def estimate_model_rip(
    key: jax.Array,
    op,
    model: AbstractSparsityModel,
    num_samples: int,
    *,
    method: str = "auto",
    eigenvalues: bool = True,
    eigen_method: str = "auto",
    lanczos_steps: int = DEFAULT_STEPS,
    full_ratio: bool = False,
    chunk_size: int | None = None,
    distribution: str = "uniform",
    histogram_range: tuple[float, float] = DEFAULT_RANGE,
    bins: int = DEFAULT_BINS,
    keep_samples: bool = False,
    progress: bool | None = None,
) -> RIPEstimate:
    """Estimate the model-RIP of ``Φ = Wᵀ`` on random model-sparse codes (eq. 1).

    Draws ``num_samples`` codes ``z`` from ``model`` (on ``op.out_shape``) and reduces, in
    chunks of bounded memory, the ratios ``‖Wᵀz‖/‖z‖`` (Fig. 2a), ``‖(WWᵀz)_S‖/‖z‖`` (Fig. 2b,
    restricted to the support) and optionally the full ``‖WWᵀz‖/‖z‖``, and the extreme
    Rayleigh quotients of every sampled support's restricted Gram ``G_S``: its exact extreme
    eigenvalues for a signed model, the extremes over non-negative codes (a projected ascent,
    see the module docstring) for a non-negative one. The estimate of ``δ_k`` is a **lower
    bound** (see :class:`RIPEstimate`).

    This is the argument checks plus :func:`sample_model_rip` under ``jax.jit``. It is also
    jit-able and vmap-able itself:
    ``jax.vmap(lambda op: estimate_model_rip(key, op, model, n))(ops)`` estimates many random
    filter draws in one call; ``k`` is a traced leaf of ``model``, so a new key, ``k`` (within
    the model's capacity) or operator of the same shapes compiles nothing, nor does a new
    ``num_samples`` with the same chunk (always, for ``num_samples`` at or above the automatic
    chunk; below it, the default chunk is a power of two: one program per power of two).
    Deterministic for a given key, ``num_samples`` and ``chunk_size``.

    Args:
        key: PRNG key.
        op: any operator (``W``; codes have ``op.out_shape``).
        model: a sparsity model (:class:`~jaxcs.AbstractSparsityModel`: ``BlockModel``,
            ``PoolingModel``, ``TopKModel``, ``PerChannelModel``, ``JointModel`` or one's own).
        num_samples: number of random codes (any size: memory stays bounded).
        method: how the ratios are computed: ``"gram"`` (``O(k²)`` per code from the
            correlation table), ``"conv"`` (two convolutions per code) or ``"auto"``: the one
            with the lower modelled cost per code (:func:`choose_method`), i.e.
            ``gram_entry_cost(op) · op.restricted_gram_cost(k)`` (a calibrated cost per
            gathered Gram entry, by padding: :data:`GRAM_ENTRY_COST`) against
            ``2 · op.mv_cost()``; the dense eigenvalue path gathers ``G_S`` anyway (so
            ``"gram"``), ``full_ratio`` convolves anyway (so ``"conv"``). Small ``k`` gives
            ``"gram"``, large ``k`` ``"conv"``; the result's ``method`` says which ran.
        eigenvalues: also compute the extreme quotients ``eig_min``, ``eig_max`` of each
            ``G_S``.
        eigen_method: how: ``"dense"`` (gather ``G_S``, then ``eigvalsh``: exact, ``O(k³)``
            per support; capacity ≤ 1024), ``"lanczos"`` (``lanczos_steps`` steps of two
            convolutions on the masked operator, no dense ``G_S``:
            :func:`~jaxcs.analysis.masked_spectrum.masked_extremes`) or ``"auto"`` (the cheaper
            by estimated multiply-adds; the result's ``eigen_method`` says which ran).
        lanczos_steps: Lanczos steps per support on that path.
        full_ratio: also compute the unrestricted ``‖WWᵀz‖/‖z‖`` (two convolutions per code).
        chunk_size: codes per chunk (default: from a 32 MiB budget for temporaries,
            at most ``LANCZOS_MAX_CHUNK`` on the Lanczos path, and at most the power of two
            ``≥ num_samples``, :func:`chunk_bucket`, so that a new ``num_samples`` compiles
            nothing, or once per power of two below the automatic chunk).
        distribution: non-zero values, ``"uniform"`` (U[−1, 1], the paper), ``"normal"`` or
            ``"rademacher"``.
        histogram_range, bins: the fixed histogram of every quantity.
        keep_samples: also return every sample (memory grows with ``num_samples``).
        progress: show a tqdm progress bar (needs the ``progress`` extra; not under ``vmap``);
            ``None``: when the estimated work exceeds ``AUTO_PROGRESS_COST`` multiply-adds
            (outside ``jit``/``vmap`` only).

    Returns:
        A :class:`RIPEstimate`.

    Raises:
        ValueError: ``num_samples`` not positive, ``k`` out of range (or 0) for the operator's
            code shape, an unknown ``method`` or ``eigen_method``, or the dense eigenvalue path
            asked for a capacity beyond 1024.
    """
    check_key(key)
    check_operator(op, call="estimate_model_rip(key, op, model, n)")
    check_model(model)
    code_shape = model.check_code_shape(op.out_shape, "op.out_shape")
    k = concrete_int(model.k)
    if k == 0:
        raise ValueError("model.k must be >= 1 for a RIP estimate (k = 0 has no ratios)")
    num_samples = _check_num_samples(num_samples)
    check_choice(method, METHODS, "method")
    capacity = model.num_slots(code_shape)
    check_choice(eigen_method, EIGEN_METHODS, "eigen_method")
    lanczos_steps = positive_int(lanczos_steps, "lanczos_steps")
    if eigenvalues and eigen_method == "dense" and capacity > MAX_EXACT_EIGEN_K:
        raise ValueError(
            f"eigen_method='dense' needs the model's capacity (k slots) <= {MAX_EXACT_EIGEN_K}; "
            f"got {capacity}: use eigen_method='lanczos' (or 'auto')"
        )
    if eigen_method == "auto":
        eigen_method = choose_eigen_method(op, capacity, lanczos_steps)
    eigen_path = eigen_method if eigenvalues else None  # the eigenvalue path that runs, if any
    if method == "auto":
        method = choose_method(
            op, capacity, eigen_path, full_ratio=bool(full_ratio), lanczos_steps=lanczos_steps
        )
    try:
        lo, hi = (float(r) for r in histogram_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"histogram_range must be two numbers (lo, hi); got {histogram_range!r}"
        ) from None
    if not hi > lo or isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(
            f"histogram_range must be (lo, hi) with hi > lo and bins >= 1; got "
            f"{histogram_range}, bins={bins}"
        )
    use_gram = method == "gram" or eigen_path == "dense"
    use_conv = method == "conv" or full_ratio or eigen_path == "lanczos"
    if chunk_size is None:
        chunk_size = min(
            _auto_chunk(op, model, use_gram, use_conv, lanczos=eigen_path == "lanczos"),
            chunk_bucket(num_samples),
        )
    else:
        chunk_size = positive_int(chunk_size, "chunk_size")
    config = dict(
        method=method,
        eigenvalues=bool(eigenvalues),
        eigen_method=eigen_path or "dense",
        lanczos_steps=lanczos_steps,
        full_ratio=bool(full_ratio),
        chunk_size=int(chunk_size),
        distribution=distribution,
        histogram_range=(lo, hi),
        bins=int(bins),
        # a count, so that num_samples stays traced (one compilation for any num_samples)
        keep_samples=num_samples if keep_samples else False,
    )
    if progress is None:
        cost = num_samples * sample_cost(
            op, capacity, method, eigen_path, lanczos_steps, bool(full_ratio)
        )
        traced = any(is_traced(leaf) for leaf in jax.tree.leaves(op))
        progress = cost > AUTO_PROGRESS_COST and not traced
    with progress_bar(num_samples, "model-RIP", enabled=bool(progress)) as bar_id:
        return _estimate(key, op, model, num_samples, progress_id=bar_id or None, **config)


def sample_model_rip(
    key: jax.Array,
    op,
    model: AbstractSparsityModel,
    num_samples,
    *,
    method: str = "gram",
    eigenvalues: bool = False,
    full_ratio: bool = False,
    chunk_size: int = 1024,
    distribution: str = "uniform",
    histogram_range: tuple[float, float] = DEFAULT_RANGE,
    bins: int = DEFAULT_BINS,
    keep_samples: bool | int = False,
    extra: Callable[[SparseCode], dict[str, jax.Array]] | None = None,
    progress_id=None,
    eigen_method: str = "dense",
    lanczos_steps: int = DEFAULT_STEPS,
) -> RIPEstimate:
    """The model-RIP Monte Carlo kernel behind :func:`estimate_model_rip`, without any checks.

    Draws ``num_samples`` codes from ``model`` on ``op.out_shape`` in chunks of ``chunk_size``
    (chunk ``c`` is ``model.sample_sparse(fold_in(key, c), op.out_shape, (chunk_size,),
    distribution=distribution, dtype=op.dtype)``), evaluates :func:`code_ratios` on each chunk
    (and ``extra``, when given) and streams every per-code quantity into :class:`Statistics`
    (:func:`~jaxcs.monte_carlo`).

    A pure function of its array arguments: every keyword except ``progress_id`` is static
    configuration given as a Python value, so it runs inside the caller's ``jit``, ``vmap``
    (over keys, operators, models with an array ``k``) or sharded computation, or is jitted
    on its own, e.g. ``jax.jit(partial(sample_model_rip, method="gram", eigenvalues=True,
    ...))``. A new key, ``k``, operator of the same shapes or (traced) ``num_samples``
    compiles nothing.

    The arguments are assumed valid (as :func:`estimate_model_rip` checks them): ``op`` an
    operator, ``model`` a sparsity model whose ``k`` (≥ 1) fits ``op.out_shape``,
    ``method`` resolved to ``"gram"`` or ``"conv"``, eigenvalues only for at most
    ``MAX_EXACT_EIGEN_K`` slots, ``1 ≤ num_samples < 2**31``.

    Args:
        key: PRNG key (a scalar key array).
        op: the layer ``W`` (any operator); codes have shape ``op.out_shape``.
        model: the model ``𝓜`` the codes are drawn from (its ``nonnegative`` flag selects the
            orthant extremes for ``eig_min``/``eig_max``, see the module docstring).
        num_samples: number of codes, a Python int or a traced ``int32`` scalar; the last
            chunk is masked.
        method: ``"gram"`` (the default: ratios from the restricted Gram, ``O(k²)`` per code)
            or ``"conv"`` (two convolutions per code).
        eigenvalues: also compute ``eig_min``, ``eig_max`` per support (default: no).
        eigen_method: ``"dense"`` (``G_S`` and ``eigvalsh``, or the orthant ascent of a
            non-negative model) or ``"lanczos"`` (:func:`masked_extremes`, ``lanczos_steps``
            steps; adds ``eig_residual``).
        full_ratio: also compute the unrestricted ``‖WWᵀz‖/‖z‖``.
        chunk_size: codes per chunk ``B`` (default 1024; memory is ``O(B)``; the codes drawn
            depend on it).
        distribution: ``"uniform"`` (default), ``"normal"`` or ``"rademacher"`` values.
        histogram_range: ``(lo, hi)`` of every histogram (default: that of
            :func:`estimate_model_rip`).
        bins: histogram bins (default: as :func:`estimate_model_rip`).
        keep_samples: ``False`` (default): keep no samples; ``True``: keep all ``num_samples`` (then
            ``num_samples`` must be a Python int); an int ``N``: keep the first ``N`` (``NaN``
            beyond ``num_samples``), for a traced ``num_samples``.
        extra: optional ``SparseCode -> {name: (B,) array}``: additional per-code scalars of
            each chunk's codes (``(B, slots)`` index-form arrays, one code per row), streamed
            like the built-in quantities into ``RIPEstimate.extra`` and, when kept, into
            ``RIPEstimate.samples``. Names must differ from :data:`QUANTITIES`.
        progress_id: a traced int from :class:`~jaxcs.analysis.progress_bar` (``None``: no
            progress callbacks).

    Returns:
        A :class:`RIPEstimate`: every ``Statistics`` leaf a scalar (``histogram``: ``(bins,)``),
        ``status`` and ``num_samples`` ``int32`` scalars, ``samples`` ``{name: (N,)}`` or
        ``None``, ``extra`` ``{name: Statistics}`` or ``None`` (a leading axis on every leaf
        under ``vmap``).

    Raises:
        ValueError: (at trace time) ``keep_samples=True`` with a traced ``num_samples``, or an
            ``extra`` that returns a built-in name or not one ``(B,)`` array per name.
    """
    code_shape = tuple(op.out_shape)
    keep = _kept_count(keep_samples, num_samples)
    lanczos = eigenvalues and eigen_method == "lanczos"
    dense_eigen = eigenvalues and not lanczos
    table = op.gram_table() if (method == "gram" or dense_eigen) else None

    def chunk_fn(chunk_key):
        code = model.sample_sparse(
            chunk_key, code_shape, (chunk_size,), distribution=distribution, dtype=op.dtype
        )
        out = _code_ratios(
            op,
            code,
            method=method,
            eigenvalues=dense_eigen,
            full_ratio=full_ratio,
            table=table,
            nonnegative=model.nonnegative,
        )
        if lanczos:
            found = masked_extremes(op, code, steps=lanczos_steps, nonnegative=model.nonnegative)
            out |= {"eig_min": found.eig_min, "eig_max": found.eig_max}
            if not model.nonnegative:  # the orthant ascent makes no accuracy statement
                out["eig_residual"] = jnp.maximum(found.residual_min, found.residual_max)
        if extra is not None:
            out |= _check_extra(extra(code), chunk_size)
        return out

    stats, kept = monte_carlo(
        key,
        chunk_fn,
        num_samples,
        chunk_size,
        histogram_range=tuple(float(r) for r in histogram_range),
        bins=int(bins),
        keep_samples=keep,
        progress_id=progress_id,
    )
    return RIPEstimate.of(
        stats,
        op.is_finite(),
        num_samples,
        kept,
        extra=extra is not None,
        eigen_method=("lanczos" if lanczos else "dense") if eigenvalues else None,
        method=method,
    )


_estimate = jax.jit(
    sample_model_rip,
    static_argnames=(
        "method",
        "eigenvalues",
        "full_ratio",
        "chunk_size",
        "distribution",
        "histogram_range",
        "bins",
        "keep_samples",
        "extra",
        "eigen_method",
        "lanczos_steps",
    ),
)


def _kept_count(keep_samples, num_samples) -> int | None:
    if keep_samples is None or keep_samples is False:
        return None
    if keep_samples is True:
        n = concrete_int(num_samples)
        if n is None:
            raise ValueError(
                "keep_samples=True needs a concrete num_samples (a Python int); pass "
                "keep_samples=N to keep the first N samples of a traced num_samples"
            )
        return n
    return int(keep_samples)


def _check_extra(values, chunk_size: int) -> dict:
    if not isinstance(values, dict):
        raise ValueError(f"extra must return a dict {{name: (B,) array}}; got {type(values)}")
    clash = sorted(set(values) & set(QUANTITIES))
    if clash:
        raise ValueError(f"extra quantities must not reuse the built-in names {clash}")
    out = {}
    for name, value in values.items():
        value = jnp.asarray(value)
        if value.shape != (chunk_size,):
            raise ValueError(
                f"extra quantity {name!r} must have shape ({chunk_size},) (one scalar per code "
                f"of the chunk); got {value.shape}"
            )
        out[name] = value
    return out


def _code_ratios(
    op,
    code: SparseCode,
    *,
    method: str = "gram",
    eigenvalues: bool = False,
    full_ratio: bool = False,
    table=None,
    nonnegative: bool = False,
) -> dict[str, jax.Array]:
    """Per-code RIP quantities for a batch of index-form codes.

    One compiled program per configuration and shape when called eagerly (``method``,
    ``eigenvalues``, ``full_ratio`` and ``nonnegative`` are static); inside a trace it is
    inlined like any jitted function.

    Args:
        op: the layer ``W``.
        code: a :class:`SparseCode` with ``(B, capacity)`` arrays.
        method: ``"gram"`` (from the restricted Gram) or ``"conv"`` (two convolutions).
        eigenvalues: add ``eig_min``/``eig_max``, the extreme Rayleigh quotients of each
            restricted Gram ``G_S`` over the model's codes on ``S``.
        full_ratio: add the unrestricted ``ratio_wwt_full``.
        table: a precomputed correlation table (optional).
        nonnegative: the codes' model is non-negative: ``eig_min``/``eig_max`` are then the
            extremes over ``z ≥ 0`` (:func:`orthant_extremes`, started from ``|code.values|``)
            instead of the eigenvalues of ``G_S``.

    Returns:
        ``{"ratio_wt", "ratio_wwt"[, "ratio_wwt_full"][, "eig_min", "eig_max"]}``, each ``(B,)``.
    """
    z = code.values
    batch = z.shape[0]
    znorm = jnp.linalg.norm(z, axis=-1)
    # A non-finite operator makes every quantity non-finite, whichever entries a code touches,
    # so that the gram and conv paths report the same thing.
    znorm = jnp.where(op.is_finite(), znorm, jnp.nan)
    out = {}
    gram = None
    if method == "gram" or eigenvalues:
        # The whole G_S in one gather: on CPU the gather of only its distinct entries (the
        # triangle) and their expansion cost more than the duplicate entries save.
        gram = restricted_gram(op, code.indices, code.mask, table=table)
    if method == "gram":
        gz = jnp.einsum("bij,bj->bi", gram, z)
        quadratic = jnp.einsum("bi,bi->b", z, gz)
        out["ratio_wt"] = jnp.sqrt(jnp.maximum(quadratic, 0)) / znorm
        out["ratio_wwt"] = jnp.linalg.norm(gz, axis=-1) / znorm
    elif method != "conv":
        raise ValueError(f"method must be 'gram' or 'conv'; got {method!r}")
    if method == "conv" or full_ratio:
        x = op.rmv(code.to_dense())
        y = op.mv(x).reshape(batch, -1)
        if method == "conv":
            out["ratio_wt"] = jnp.linalg.norm(x.reshape(batch, -1), axis=-1) / znorm
            on_support = jnp.where(code.mask, jnp.take_along_axis(y, code.indices, axis=-1), 0)
            out["ratio_wwt"] = jnp.linalg.norm(on_support, axis=-1) / znorm
        if full_ratio:
            out["ratio_wwt_full"] = jnp.linalg.norm(y, axis=-1) / znorm
    if eigenvalues:
        assert gram is not None  # gathered above whenever eigenvalues are asked for
        if nonnegative:  # only codes z >= 0 are in the model: the orthant's extremes
            eig_min, eig_max = orthant_extremes(gram, z, code.mask)
        else:  # the exact extremes of the used block of every G_S
            eig_min, eig_max = extreme_eigenvalues(gram, code.mask)
        # (the orthant ascent's eigh does not propagate NaN) a non-finite Gram, a non-finite
        # operator or an empty support gives non-finite extremes
        finite = jnp.all(jnp.isfinite(gram), axis=(-2, -1)) & jnp.isfinite(znorm)
        finite = finite & jnp.any(code.mask, axis=-1)  # an empty support (traced k = 0)
        out["eig_min"] = jnp.where(finite, eig_min, jnp.nan)
        out["eig_max"] = jnp.where(finite, eig_max, jnp.nan)
    return out


code_ratios = jax.jit(
    _code_ratios, static_argnames=("method", "eigenvalues", "full_ratio", "nonnegative")
)


def orthant_extremes(gram, start, mask=None, *, steps: int = ORTHANT_STEPS):
    """Extremes of the Rayleigh quotient ``zᵀ G z / ‖z‖²`` over ``z ≥ 0`` by projected ascent.

    The model-RIP of a non-negative model only concerns codes ``z ≥ 0``; the extreme
    eigenvectors of ``G`` may have mixed signs, so its eigenvalues can overstate δ. For the
    maximum, ``z ← P₊(G z) / ‖P₊(G z)‖`` (``P₊``: clip at 0; unused slots held at 0); for a
    positive semi-definite ``G`` no step decreases the quotient (``f(z) = zᵀGz`` is convex, so
    ``f(y) ≥ 2 (Gz)ᵀy − f(z) ≥ f(z)`` for the step ``y``). For the minimum, the same ascent on
    ``c I − G`` with ``c = λ_max(G)``. Each ascent runs ``steps`` steps from three feasible
    starts: ``|start|`` and the positive and negative parts of the extreme eigenvector of
    ``G`` (one ``eigh``); then the best chain's face (the slots where it is positive) is
    solved exactly (one ``eigh`` of that face, whose extreme eigenvector, in absolute value,
    is one more candidate).

    Every candidate (each iterate, each single-slot code ``e_i``) is a non-negative code, so
    the returned maximum is ``≤`` and the minimum ``≥`` the true extremes over the orthant
    (the ascent may stop at a local extreme, which only weakens a δ bound); on small supports
    it almost always reaches them (tested against exhaustive search over faces).

    Args:
        gram: ``(B, k, k)`` symmetric positive semi-definite ``G_S`` (rows and columns of
            unused slots are ignored).
        start: ``(B, k)`` starting codes (their absolute values are used).
        mask: ``(B, k)`` booleans, the used slots (``None``: all).
        steps: ascent steps (static).

    Returns:
        ``(q_min, q_max)``, each ``(B,)``; meaningless for a non-finite ``G`` (``eigh`` does
        not propagate NaN: :func:`code_ratios` reports those supports as NaN).
    """
    dtype = gram.dtype
    used = jnp.ones(start.shape, bool) if mask is None else jnp.asarray(mask, bool)
    keep = used.astype(dtype)
    gram = jnp.where(used[:, :, None] & used[:, None, :], gram, 0)
    diagonal = jnp.diagonal(gram, axis1=-2, axis2=-1)
    q_max = jnp.max(jnp.where(used, diagonal, -jnp.inf), axis=-1)
    q_min = jnp.min(jnp.where(used, diagonal, jnp.inf), axis=-1)
    # Unused slots get a decoupled diagonal entry inside the used block's spectrum (a used
    # diagonal entry), so that the extreme eigenpairs are those of the used block.
    fill = jnp.where(used, 0, jnp.where(jnp.isfinite(q_max), q_max, 0)[:, None])
    evals, evecs = jnp.linalg.eigh(gram + fill[:, :, None] * jnp.eye(gram.shape[-1], dtype=dtype))

    def unit(y, fallback):
        n = jnp.linalg.norm(y, axis=-1, keepdims=True)
        return jnp.where(n > 0, y / jnp.where(n > 0, n, 1), fallback)

    def quotient(z):
        return jnp.sum(z * jnp.einsum("bij,...bj->...bi", gram, z), axis=-1)

    def ascend(vector, sign, shift):
        """``steps`` steps of the ascent of ``sign · quotient`` from three starts."""
        z0 = unit(jnp.abs(start) * keep, jnp.zeros_like(start))
        zs = jnp.stack([z0, unit(jnp.maximum(vector, 0) * keep, z0)])
        zs = jnp.concatenate([zs, unit(jnp.maximum(-vector, 0) * keep, z0)[None]])

        def step(_, carry):
            zs, best = carry
            gz = jnp.einsum("bij,sbj->sbi", gram, zs)
            best = jnp.maximum(best, sign * jnp.sum(zs * gz, axis=-1))
            return unit(jnp.maximum(shift[:, None] * zs + sign * gz, 0) * keep, zs), best

        best = jnp.full(zs.shape[:2], -jnp.inf, dtype)
        zs, best = jax.lax.fori_loop(0, steps, step, (zs, best))
        best = jnp.maximum(best, sign * quotient(zs))
        chain = jnp.argmax(best, axis=0)
        final = jnp.take_along_axis(zs, chain[None, :, None], axis=0)[0]
        # the exact extreme eigenvector of the best chain's face, pushed to the orthant
        face = (final > 0) & used
        decouple = jnp.where(face, 0, -sign * (evals[:, -1:] + 1))
        g_face = jnp.where(face[:, :, None] & face[:, None, :], gram, 0)
        eye = jnp.eye(gram.shape[-1], dtype=dtype)
        face_vectors = jnp.linalg.eigh(g_face + decouple[:, :, None] * eye)[1]
        vector = face_vectors[..., -1] if sign > 0 else face_vectors[..., 0]
        refined = unit(jnp.abs(vector) * face, final)
        return sign * jnp.maximum(jnp.max(best, axis=0), sign * quotient(refined))

    q_max = jnp.maximum(q_max, ascend(evecs[..., -1], 1, jnp.zeros_like(evals[:, -1])))
    q_min = jnp.minimum(q_min, ascend(evecs[..., 0], -1, evals[:, -1]))
    return q_min, q_max


def theorem_3_3_bound(delta_k, delta_2k):
    """Theorem 3.3: ``‖x̂ − x‖ / ‖x‖ ≤ 5 δ_2k/(1 − δ_k) · sqrt(1 + δ_2k)/sqrt(1 − δ_2k)``.

    The bound on the one-step reconstruction ``x̂ = Wᵀ 𝕄(W x, k)`` when ``Wᵀ`` has the
    𝓜_k²-RIP with ``0 ≤ δ_k ≤ δ_2k < 1``. Outside that range the theorem says nothing and the
    result is ``inf`` (traced inputs) or a ``ValueError`` (concrete inputs).
    """
    dk, d2k = jnp.asarray(delta_k), jnp.asarray(delta_2k)
    if not is_traced(dk) and not is_traced(d2k):
        a, b = np.asarray(dk), np.asarray(d2k)
        if (
            np.isnan(a).any()
            or np.isnan(b).any()
            or (a < 0).any()
            or (a > b).any()
            or (b >= 1).any()
        ):
            raise ValueError(
                f"theorem_3_3_bound needs 0 <= delta_k <= delta_2k < 1; got delta_k={delta_k}, "
                f"delta_2k={delta_2k}"
            )
    valid = (dk >= 0) & (dk <= d2k) & (d2k < 1)
    bound = 5 * d2k / (1 - dk) * jnp.sqrt((1 + d2k) / (1 - d2k))
    unknown = jnp.isnan(dk) | jnp.isnan(d2k)
    return jnp.where(unknown, jnp.nan, jnp.where(valid, bound, jnp.inf))
