"""Structured sparsity models (𝓜_k; pooling, eqs. 2–3): the model protocol, regions, the block /
pooling / top-k models, the per-channel and joint models, codes in index form, the ray
projection, and max pooling with switches."""

from jaxcs.models._sampling import DISTRIBUTIONS as DISTRIBUTIONS
from jaxcs.models.base import AbstractSparsityModel as AbstractSparsityModel
from jaxcs.models.base import check_model as check_model
from jaxcs.models.base import default_capacity as default_capacity
from jaxcs.models.channel_sparsity import JointModel as JointModel
from jaxcs.models.channel_sparsity import PerChannelModel as PerChannelModel
from jaxcs.models.enumeration import count_supports as count_supports
from jaxcs.models.enumeration import iter_supports as iter_supports
from jaxcs.models.enumeration import log_count_lower_bound as log_count_lower_bound
from jaxcs.models.enumeration import model_regions as model_regions
from jaxcs.models.enumeration import support_sizes as support_sizes
from jaxcs.models.pooling import block_sparsify as block_sparsify
from jaxcs.models.pooling import check_switches as check_switches
from jaxcs.models.pooling import fixed_switches as fixed_switches
from jaxcs.models.pooling import keep_largest as keep_largest
from jaxcs.models.pooling import max_pool as max_pool
from jaxcs.models.pooling import pool_project as pool_project
from jaxcs.models.pooling import pool_project_sparse as pool_project_sparse
from jaxcs.models.pooling import unpool as unpool
from jaxcs.models.ray import RayProjection as RayProjection
from jaxcs.models.ray import project_ray as project_ray
from jaxcs.models.region_model import BlockModel as BlockModel
from jaxcs.models.region_model import PoolingModel as PoolingModel
from jaxcs.models.region_model import RegionModel as RegionModel
from jaxcs.models.region_model import TopKModel as TopKModel
from jaxcs.models.sparse_code import SparseCode as SparseCode
