"""jaxcs: compressive sensing with convolutional operators in JAX.

Invertibility of CNNs (Gilbert et al., IJCAI 2017): the layer ``W``, its adjoint ``Wᵀ``,
structured sparsity models, the model-RIP, and model-based recovery.
"""

from jaxcs.coherence import coherence as coherence
from jaxcs.correlation import CorrelationTable as CorrelationTable
from jaxcs.correlation import DenseGram as DenseGram
from jaxcs.correlation import correlation_table as correlation_table
from jaxcs.correlation import gram_table as gram_table
from jaxcs.correlation import restricted_gram as restricted_gram
from jaxcs.layers import IHTEncoder as IHTEncoder
from jaxcs.layers import IHTLayer as IHTLayer
from jaxcs.layers import LayerOutput as LayerOutput
from jaxcs.layers import decode_layer as decode_layer
from jaxcs.layers import decode_stack as decode_stack
from jaxcs.layers import layer_operator as layer_operator
from jaxcs.layers import plus_minus_filters as plus_minus_filters
from jaxcs.models import BlockModel as BlockModel
from jaxcs.models import PoolingModel as PoolingModel
from jaxcs.models import RegionModel as RegionModel
from jaxcs.models import SparseCode as SparseCode
from jaxcs.models import TopKModel as TopKModel
from jaxcs.montecarlo import Statistics as Statistics
from jaxcs.montecarlo import monte_carlo as monte_carlo
from jaxcs.operators import ConvOperator as ConvOperator
from jaxcs.operators import MatrixOperator as MatrixOperator
from jaxcs.operators import TransposedOperator as TransposedOperator
from jaxcs.operators import conv_operator_from_flax as conv_operator_from_flax
from jaxcs.operators import conv_output_shape as conv_output_shape
from jaxcs.operators import gaussian_filters as gaussian_filters
from jaxcs.operators import normalize_filters as normalize_filters
from jaxcs.operators import rademacher_filters as rademacher_filters
from jaxcs.operators import unit_norm_filters as unit_norm_filters
from jaxcs.pooling import block_sparsify as block_sparsify
from jaxcs.pooling import fixed_switches as fixed_switches
from jaxcs.pooling import keep_largest as keep_largest
from jaxcs.pooling import max_pool as max_pool
from jaxcs.pooling import pool_project as pool_project
from jaxcs.pooling import unpool as unpool
from jaxcs.reconstruction import iht_codes as iht_codes
from jaxcs.reconstruction import map_codes as map_codes
from jaxcs.reconstruction import one_step_reconstruction as one_step_reconstruction
from jaxcs.reconstruction import relative_error as relative_error
from jaxcs.rip import RIPEstimate as RIPEstimate
from jaxcs.rip import code_ratios as code_ratios
from jaxcs.rip import estimate_model_rip as estimate_model_rip
from jaxcs.rip import theorem_3_3_bound as theorem_3_3_bound
from jaxcs.solvers import HTP as HTP
from jaxcs.solvers import IHT as IHT
from jaxcs.solvers import NIHT as NIHT
from jaxcs.solvers import STATUS as STATUS
from jaxcs.solvers import CoSaMP as CoSaMP
from jaxcs.solvers import Solution as Solution
from jaxcs.solvers import Status as Status
from jaxcs.solvers import algorithm2 as algorithm2
from jaxcs.solvers import lasso as lasso
from jaxcs.solvers import recover as recover
from jaxcs.spectral import operator_norm as operator_norm

__version__ = "0.1.0"
