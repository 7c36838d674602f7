"""jaxcs: compressive sensing with convolutional operators in JAX.

Invertibility of CNNs (Gilbert et al., IJCAI 2017): the layer ``W``, its adjoint ``Wᵀ``,
structured sparsity models, the model-RIP, and model-based recovery.
"""

from jaxcs.correlation import CorrelationTable as CorrelationTable
from jaxcs.correlation import correlation_table as correlation_table
from jaxcs.correlation import restricted_gram as restricted_gram
from jaxcs.models import BlockModel as BlockModel
from jaxcs.models import PoolingModel as PoolingModel
from jaxcs.models import RegionModel as RegionModel
from jaxcs.models import SparseCode as SparseCode
from jaxcs.models import TopKModel as TopKModel
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
from jaxcs.pooling import max_pool as max_pool
from jaxcs.pooling import pool_project as pool_project
from jaxcs.pooling import unpool as unpool

__version__ = "0.1.0"
