"""jaxcs: compressive sensing with convolutional operators in JAX.

Invertibility of CNNs (Gilbert et al., IJCAI 2017): the layer ``W``, its adjoint ``Wᵀ``,
structured sparsity models, the model-RIP, and model-based recovery. The flat public API; the
sub-packages (``operators``, ``models``, ``solvers``, ``analysis``, ``layers``) hold the same
names by topic.

``import jaxcs`` is cheap: each name below imports its sub-package (and JAX) on first use.
"""

from typing import TYPE_CHECKING

from jaxcs._lazy import attach
from jaxcs._version import __version__ as __version__

__getattr__, __dir__, __all__ = attach(__name__, __file__)

if TYPE_CHECKING:  # the public names, read by attach(): one line each
    from jaxcs._pytree import Pytree as Pytree
    from jaxcs._pytree import static_field as static_field
    from jaxcs.analysis import SUCCESS_TOLERANCE as SUCCESS_TOLERANCE
    from jaxcs.analysis import ExactRIP as ExactRIP
    from jaxcs.analysis import ExtremeSupports as ExtremeSupports
    from jaxcs.analysis import MaskedExtremes as MaskedExtremes
    from jaxcs.analysis import RIPBracket as RIPBracket
    from jaxcs.analysis import RIPEstimate as RIPEstimate
    from jaxcs.analysis import RIPSearch as RIPSearch
    from jaxcs.analysis import RIPUpperBound as RIPUpperBound
    from jaxcs.analysis import Statistics as Statistics
    from jaxcs.analysis import SuccessRate as SuccessRate
    from jaxcs.analysis import TransitionFit as TransitionFit
    from jaxcs.analysis import code_error as code_error
    from jaxcs.analysis import code_ratios as code_ratios
    from jaxcs.analysis import coherence as coherence
    from jaxcs.analysis import delta_lower_bound_from as delta_lower_bound_from
    from jaxcs.analysis import estimate_model_rip as estimate_model_rip
    from jaxcs.analysis import exact_model_rip as exact_model_rip
    from jaxcs.analysis import fit_transition as fit_transition
    from jaxcs.analysis import fit_transitions as fit_transitions
    from jaxcs.analysis import iht_codes as iht_codes
    from jaxcs.analysis import is_success as is_success
    from jaxcs.analysis import l1_weak_threshold as l1_weak_threshold
    from jaxcs.analysis import map_codes as map_codes
    from jaxcs.analysis import masked_extremes as masked_extremes
    from jaxcs.analysis import model_rip_bracket as model_rip_bracket
    from jaxcs.analysis import model_rip_upper_bound as model_rip_upper_bound
    from jaxcs.analysis import monte_carlo as monte_carlo
    from jaxcs.analysis import one_step_reconstruction as one_step_reconstruction
    from jaxcs.analysis import orthant_extremes as orthant_extremes
    from jaxcs.analysis import relative_error as relative_error
    from jaxcs.analysis import sample_model_rip as sample_model_rip
    from jaxcs.analysis import search_model_rip as search_model_rip
    from jaxcs.analysis import success_rate as success_rate
    from jaxcs.analysis import support_recovered as support_recovered
    from jaxcs.analysis import theorem_3_3_bound as theorem_3_3_bound
    from jaxcs.layers import IHTEncoder as IHTEncoder
    from jaxcs.layers import IHTLayer as IHTLayer
    from jaxcs.layers import LayerOutput as LayerOutput
    from jaxcs.layers import decode_layer as decode_layer
    from jaxcs.layers import decode_stack as decode_stack
    from jaxcs.layers import layer_operator as layer_operator
    from jaxcs.layers import plus_minus_filters as plus_minus_filters
    from jaxcs.models import AbstractSparsityModel as AbstractSparsityModel
    from jaxcs.models import BlockModel as BlockModel
    from jaxcs.models import JointModel as JointModel
    from jaxcs.models import PerChannelModel as PerChannelModel
    from jaxcs.models import PoolingModel as PoolingModel
    from jaxcs.models import RegionModel as RegionModel
    from jaxcs.models import SparseCode as SparseCode
    from jaxcs.models import TopKModel as TopKModel
    from jaxcs.models import block_sparsify as block_sparsify
    from jaxcs.models import fixed_switches as fixed_switches
    from jaxcs.models import keep_largest as keep_largest
    from jaxcs.models import max_pool as max_pool
    from jaxcs.models import pool_project as pool_project
    from jaxcs.models import unpool as unpool
    from jaxcs.operators import AbstractOperator as AbstractOperator
    from jaxcs.operators import AdjointCheck as AdjointCheck
    from jaxcs.operators import BorderCorrelationTable as BorderCorrelationTable
    from jaxcs.operators import ConvOperator as ConvOperator
    from jaxcs.operators import CorrelationTable as CorrelationTable
    from jaxcs.operators import DenseGram as DenseGram
    from jaxcs.operators import MatrixOperator as MatrixOperator
    from jaxcs.operators import TransposedOperator as TransposedOperator
    from jaxcs.operators import check_adjoint as check_adjoint
    from jaxcs.operators import conv_operator_from_flax as conv_operator_from_flax
    from jaxcs.operators import conv_output_shape as conv_output_shape
    from jaxcs.operators import correlation_table as correlation_table
    from jaxcs.operators import gaussian_filters as gaussian_filters
    from jaxcs.operators import gram_table as gram_table
    from jaxcs.operators import normalize_filters as normalize_filters
    from jaxcs.operators import operator_norm as operator_norm
    from jaxcs.operators import rademacher_filters as rademacher_filters
    from jaxcs.operators import restricted_gram as restricted_gram
    from jaxcs.operators import unit_norm_filters as unit_norm_filters
    from jaxcs.solvers import FISTA as FISTA
    from jaxcs.solvers import HTP as HTP
    from jaxcs.solvers import IHT as IHT
    from jaxcs.solvers import NIHT as NIHT
    from jaxcs.solvers import AbstractSolver as AbstractSolver
    from jaxcs.solvers import Algorithm2Solution as Algorithm2Solution
    from jaxcs.solvers import CoSaMP as CoSaMP
    from jaxcs.solvers import LassoSolution as LassoSolution
    from jaxcs.solvers import Solution as Solution
    from jaxcs.solvers import SubspacePursuit as SubspacePursuit
    from jaxcs.solvers import algorithm2 as algorithm2
    from jaxcs.solvers import lasso as lasso
    from jaxcs.solvers import recover as recover
    from jaxcs.solvers import solve as solve
    from jaxcs.status import Status as Status
    from jaxcs.sweeps import SweepConfig as SweepConfig
    from jaxcs.sweeps import SweepResult as SweepResult
    from jaxcs.sweeps import load_config as load_config
    from jaxcs.sweeps import sweep as sweep
