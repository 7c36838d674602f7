"""The result of a model-RIP estimate, :class:`RIPEstimate`: its statistics, its δ lower bounds,
its report and its exact JSON form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs._files import write_json
from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_choice
from jaxcs.analysis.rip.bounds import delta_lower_bound_from
from jaxcs.analysis.rip.saved import (
    JSON_FORMAT,
    JSON_VERSION,
    SAVED_EIGEN_METHODS,
    SAVED_METHODS,
    decode_field,
    encode_field,
    encode_floats,
)
from jaxcs.analysis.statistics import Statistics, summarize_samples
from jaxcs.status import Status

QUANTITIES = ("ratio_wt", "ratio_wwt", "ratio_wwt_full", "eig_min", "eig_max", "eig_residual")


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
            :mod:`jaxcs.analysis.rip.spectrum.masked`).
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
    status: Int[Array, ""]
    num_samples: Int[Array, ""]
    samples: dict[str, Float[Array, " N"]] | None
    extra: dict[str, Statistics] | None
    eig_residual: Statistics | None = None
    eigen_method: str | None = static_field(default=None)
    method: str | None = static_field(default=None)

    @classmethod
    def of(
        cls,
        stats: dict[str, Statistics],
        operator_finite: Bool[ArrayLike, ""],
        num_samples: int | Int[ArrayLike, ""],
        samples: dict[str, Float[Array, " N"]] | None,
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
    def delta_lower_bound(self) -> Float[Array | np.ndarray, "*batch"]:
        """Lower bound on ``δ_k``: from the per-support extreme quotients ``eig_min``/``eig_max``
        when computed (exact eigenvalues, or the orthant extremes of a non-negative model),
        else from the random-code ratios (see :mod:`jaxcs.analysis.rip`). NaN without any finite
        sample."""
        if self.eig_min is None or self.eig_max is None:  # both or neither were computed
            return self.delta_lower_bound_random_z
        return delta_lower_bound_from(self.eig_min.min, self.eig_max.max)

    @property
    def delta_lower_bound_random_z(self) -> Float[Array | np.ndarray, "*batch"]:
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
            fields = {name: encode_field(getattr(self, name)) for name in self.leaf_fields()}
            summary = encode_floats(self.summary())
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
            check_choice(data.get(key), list(allowed), f"saved RIPEstimate key {key!r}")
        fields = data.get("fields", {})
        if not isinstance(fields, dict):
            raise ValueError(f"saved RIPEstimate key 'fields' must be a dict; got {fields!r:.80}")
        missing = [name for name in cls.leaf_fields() if name not in fields]
        if missing:
            raise ValueError(f"saved RIPEstimate lacks the fields {missing}")
        # by field name: a Statistics, a dict of them, an array or None
        leaves: dict[str, Any] = {
            name: decode_field(fields[name], name) for name in cls.leaf_fields()
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
