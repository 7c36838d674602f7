"""jaxcs: compressive sensing with convolutional operators in JAX.

Invertibility of CNNs (Gilbert et al., IJCAI 2017): the layer ``W``, its adjoint ``Wᵀ``,
structured sparsity models, the model-RIP, and model-based recovery. The top level holds the
names of the README's tour (42 of them); everything else lives in its sub-package
(``jaxcs.operators``, ``jaxcs.models``, ``jaxcs.solvers``, ``jaxcs.analysis``, ``jaxcs.layers``,
``jaxcs.sweeps``, …), and asking the top level for one of those names says where it is.

``import jaxcs`` is cheap: each name below imports its sub-package (and JAX) on first use.
"""

from typing import TYPE_CHECKING

from jaxcs._lazy import attach
from jaxcs._version import __version__ as __version__

__getattr__, __dir__, __all__ = attach(__name__, __file__)

if TYPE_CHECKING:  # the public names, read by attach(): one line each
    from jaxcs._pytree import Pytree as Pytree
    from jaxcs._pytree import static_field as static_field
    from jaxcs.analysis import RIPEstimate as RIPEstimate
    from jaxcs.analysis import coherence as coherence
    from jaxcs.analysis import estimate_model_rip as estimate_model_rip
    from jaxcs.analysis import exact_model_rip as exact_model_rip
    from jaxcs.analysis import model_rip_bracket as model_rip_bracket
    from jaxcs.analysis import model_rip_upper_bound as model_rip_upper_bound
    from jaxcs.analysis import one_step_reconstruction as one_step_reconstruction
    from jaxcs.analysis import search_model_rip as search_model_rip
    from jaxcs.analysis import success_rate as success_rate
    from jaxcs.layers import IHTLayer as IHTLayer
    from jaxcs.models import AbstractSparsityModel as AbstractSparsityModel
    from jaxcs.models import BlockModel as BlockModel
    from jaxcs.models import JointModel as JointModel
    from jaxcs.models import PerChannelModel as PerChannelModel
    from jaxcs.models import PoolingModel as PoolingModel
    from jaxcs.models import SparseCode as SparseCode
    from jaxcs.models import TopKModel as TopKModel
    from jaxcs.models import max_pool as max_pool
    from jaxcs.models import unpool as unpool
    from jaxcs.operators import AbstractOperator as AbstractOperator
    from jaxcs.operators import ConvOperator as ConvOperator
    from jaxcs.operators import MatrixOperator as MatrixOperator
    from jaxcs.operators import check_adjoint as check_adjoint
    from jaxcs.operators import gaussian_filters as gaussian_filters
    from jaxcs.operators import operator_norm as operator_norm
    from jaxcs.operators import unit_norm_filters as unit_norm_filters
    from jaxcs.solvers import FISTA as FISTA
    from jaxcs.solvers import HTP as HTP
    from jaxcs.solvers import IHT as IHT
    from jaxcs.solvers import NIHT as NIHT
    from jaxcs.solvers import AbstractSolver as AbstractSolver
    from jaxcs.solvers import CoSaMP as CoSaMP
    from jaxcs.solvers import Solution as Solution
    from jaxcs.solvers import SubspacePursuit as SubspacePursuit
    from jaxcs.solvers import lasso as lasso
    from jaxcs.solvers import recover as recover
    from jaxcs.solvers import solve as solve
    from jaxcs.status import Status as Status
    from jaxcs.sweeps import load_config as load_config
    from jaxcs.sweeps import sweep as sweep
