"""Model-based recovery: one driver (:func:`recover`), several solvers (model.md §7–8)."""

from jaxcs.solvers.driver import recover as recover
from jaxcs.solvers.htp import HTP as HTP
from jaxcs.solvers.htp import CoSaMP as CoSaMP
from jaxcs.solvers.htp import restricted_least_squares as restricted_least_squares
from jaxcs.solvers.iht import IHT as IHT
from jaxcs.solvers.iht import NIHT as NIHT
from jaxcs.solvers.lasso import Algorithm2Solution as Algorithm2Solution
from jaxcs.solvers.lasso import LassoSolution as LassoSolution
from jaxcs.solvers.lasso import algorithm2 as algorithm2
from jaxcs.solvers.lasso import lasso as lasso
from jaxcs.solvers.solution import STATUS as STATUS
from jaxcs.solvers.solution import Solution as Solution
from jaxcs.solvers.solution import Status as Status
