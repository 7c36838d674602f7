"""Model-based recovery: one driver (:func:`recover`), several solvers (model.md §7–8)."""

from jaxcs.solvers.driver import recover as recover
from jaxcs.solvers.htp import HTP as HTP
from jaxcs.solvers.htp import CoSaMP as CoSaMP
from jaxcs.solvers.htp import restricted_least_squares as restricted_least_squares
from jaxcs.solvers.iht import IHT as IHT
from jaxcs.solvers.iht import NIHT as NIHT
from jaxcs.solvers.solution import STATUS as STATUS
from jaxcs.solvers.solution import Solution as Solution
from jaxcs.solvers.solution import Status as Status
