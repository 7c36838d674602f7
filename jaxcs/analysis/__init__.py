"""Analysis of operators and codes (eq. 1, Theorem 3.3, Table 4): Monte Carlo statistics, the
model-RIP estimate and its bracket (exact, searched, certified, Lanczos), coherence,
reconstruction errors and success rates."""

from jaxcs.analysis.coherence import coherence as coherence
from jaxcs.analysis.reconstruction import SUCCESS_TOLERANCE as SUCCESS_TOLERANCE
from jaxcs.analysis.reconstruction import SuccessRate as SuccessRate
from jaxcs.analysis.reconstruction import code_error as code_error
from jaxcs.analysis.reconstruction import iht_codes as iht_codes
from jaxcs.analysis.reconstruction import is_success as is_success
from jaxcs.analysis.reconstruction import map_codes as map_codes
from jaxcs.analysis.reconstruction import one_step_reconstruction as one_step_reconstruction
from jaxcs.analysis.reconstruction import relative_error as relative_error
from jaxcs.analysis.reconstruction import success_rate as success_rate
from jaxcs.analysis.reconstruction import support_recovered as support_recovered
from jaxcs.analysis.rip import ExactRIP as ExactRIP
from jaxcs.analysis.rip import ExtremeSupports as ExtremeSupports
from jaxcs.analysis.rip import MaskedExtremes as MaskedExtremes
from jaxcs.analysis.rip import RIPBracket as RIPBracket
from jaxcs.analysis.rip import RIPEstimate as RIPEstimate
from jaxcs.analysis.rip import RIPSearch as RIPSearch
from jaxcs.analysis.rip import RIPUpperBound as RIPUpperBound
from jaxcs.analysis.rip import code_ratios as code_ratios
from jaxcs.analysis.rip import delta_lower_bound_from as delta_lower_bound_from
from jaxcs.analysis.rip import estimate_model_rip as estimate_model_rip
from jaxcs.analysis.rip import exact_model_rip as exact_model_rip
from jaxcs.analysis.rip import extreme_eigenvalues as extreme_eigenvalues
from jaxcs.analysis.rip import masked_extremes as masked_extremes
from jaxcs.analysis.rip import model_rip_bracket as model_rip_bracket
from jaxcs.analysis.rip import model_rip_upper_bound as model_rip_upper_bound
from jaxcs.analysis.rip import orthant_extremes as orthant_extremes
from jaxcs.analysis.rip import sample_model_rip as sample_model_rip
from jaxcs.analysis.rip import search_model_rip as search_model_rip
from jaxcs.analysis.rip import theorem_3_3_bound as theorem_3_3_bound
from jaxcs.analysis.statistics import DEFAULT_BINS as DEFAULT_BINS
from jaxcs.analysis.statistics import DEFAULT_RANGE as DEFAULT_RANGE
from jaxcs.analysis.statistics import Statistics as Statistics
from jaxcs.analysis.statistics import monte_carlo as monte_carlo
from jaxcs.analysis.statistics import summarize_samples as summarize_samples
from jaxcs.analysis.transition import TransitionFit as TransitionFit
from jaxcs.analysis.transition import fit_transition as fit_transition
from jaxcs.analysis.transition import fit_transitions as fit_transitions
from jaxcs.analysis.transition import l1_weak_threshold as l1_weak_threshold
