"""The model-RIP of ``Φ = Wᵀ`` (eq. 1): Monte Carlo estimates, exact enumeration, adversarial
search, a certified upper bound, the bracket of all of them, and the bound of Theorem 3.3.

``Φ = Wᵀ`` has the model-RIP with constant ``δ_k`` when
``(1 − δ_k)‖z‖² ≤ ‖Wᵀ z‖² ≤ (1 + δ_k)‖z‖²`` for every ``z`` in the model. Sampling supports
cannot certify ``δ_k`` (it is a maximum over all supports): every figure of a Monte Carlo
estimate is a **lower bound** on it. Two lower bounds are reported, both by
:func:`delta_lower_bound_from`:

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

from jaxcs.analysis.rip.bounds import delta_lower_bound_from as delta_lower_bound_from
from jaxcs.analysis.rip.bounds import theorem_3_3_bound as theorem_3_3_bound
from jaxcs.analysis.rip.bracket import RIPBracket as RIPBracket
from jaxcs.analysis.rip.bracket import model_rip_bracket as model_rip_bracket
from jaxcs.analysis.rip.estimate import estimate_model_rip as estimate_model_rip
from jaxcs.analysis.rip.exact import ExactRIP as ExactRIP
from jaxcs.analysis.rip.exact import ExtremeSupports as ExtremeSupports
from jaxcs.analysis.rip.exact import exact_model_rip as exact_model_rip
from jaxcs.analysis.rip.quantities import code_ratios as code_ratios
from jaxcs.analysis.rip.result import RIPEstimate as RIPEstimate
from jaxcs.analysis.rip.sample import sample_model_rip as sample_model_rip
from jaxcs.analysis.rip.search import RIPSearch as RIPSearch
from jaxcs.analysis.rip.search import search_model_rip as search_model_rip
from jaxcs.analysis.rip.spectrum.eigenvalues import extreme_eigenvalues as extreme_eigenvalues
from jaxcs.analysis.rip.spectrum.masked import MaskedExtremes as MaskedExtremes
from jaxcs.analysis.rip.spectrum.masked import masked_extremes as masked_extremes
from jaxcs.analysis.rip.spectrum.orthant import orthant_extremes as orthant_extremes
from jaxcs.analysis.rip.upper import RIPUpperBound as RIPUpperBound
from jaxcs.analysis.rip.upper import model_rip_upper_bound as model_rip_upper_bound
