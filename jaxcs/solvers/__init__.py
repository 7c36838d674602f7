"""Model-based recovery (Algorithms 1 and 2): the solver protocol, one driver (:func:`solve`, the
pure kernel, and :func:`recover`, the checked shell), IHT / NIHT, HTP / CoSaMP, least squares on
a support, Subspace Pursuit, FISTA and Algorithm 2, and the status vocabulary."""

from jaxcs.solvers.base import AbstractSolver as AbstractSolver
from jaxcs.solvers.base import SparseIterate as SparseIterate
from jaxcs.solvers.base import StoppingRule as StoppingRule
from jaxcs.solvers.driver import recover as recover
from jaxcs.solvers.driver import solve as solve
from jaxcs.solvers.fista import FISTA as FISTA
from jaxcs.solvers.fista import Algorithm2Solution as Algorithm2Solution
from jaxcs.solvers.fista import FISTAState as FISTAState
from jaxcs.solvers.fista import LassoSolution as LassoSolution
from jaxcs.solvers.fista import algorithm2 as algorithm2
from jaxcs.solvers.fista import lasso as lasso
from jaxcs.solvers.iht import IHT as IHT
from jaxcs.solvers.iht import NIHT as NIHT
from jaxcs.solvers.iht import GradientTable as GradientTable
from jaxcs.solvers.iht import IHTState as IHTState
from jaxcs.solvers.iht import NIHTState as NIHTState
from jaxcs.solvers.least_squares import LeastSquaresTables as LeastSquaresTables
from jaxcs.solvers.least_squares import restricted_least_squares as restricted_least_squares
from jaxcs.solvers.least_squares import support_least_squares as support_least_squares
from jaxcs.solvers.pursuit import HTP as HTP
from jaxcs.solvers.pursuit import CoSaMP as CoSaMP
from jaxcs.solvers.pursuit import CoSaMPState as CoSaMPState
from jaxcs.solvers.pursuit import HTPState as HTPState
from jaxcs.solvers.pursuit import HTPTables as HTPTables
from jaxcs.solvers.solution import Solution as Solution
from jaxcs.solvers.subspace_pursuit import SubspacePursuit as SubspacePursuit
from jaxcs.solvers.subspace_pursuit import SubspacePursuitState as SubspacePursuitState
from jaxcs.status import Status as Status
