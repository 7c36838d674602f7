"""Parameter sweeps at scale (phase transitions, model-RIP grids, solver throughput).

:func:`sweep` runs a grid (:func:`load_config`: TOML or a dict) as one compiled program per
static shape, sharded over every device and process, resumable after a crash, and returns (and
writes) a tidy table of one row per cell and solver. A grid may name a researcher's own
operator family, sparsity model and solver (:func:`register_operator`, :func:`register_model`,
:func:`register_solver`), or, from Python, hold them directly.
"""

from jaxcs.sweeps.cells import Cell as Cell
from jaxcs.sweeps.config import SweepConfig as SweepConfig
from jaxcs.sweeps.config import load_config as load_config
from jaxcs.sweeps.config_values import ConfigError as ConfigError
from jaxcs.sweeps.execute import SweepResult as SweepResult
from jaxcs.sweeps.execute import sweep as sweep
from jaxcs.sweeps.planning import Group as Group
from jaxcs.sweeps.planning import plan as plan
from jaxcs.sweeps.reader import read_table as read_table
from jaxcs.sweeps.record import SweepError as SweepError
from jaxcs.sweeps.registry import ModelFamily as ModelFamily
from jaxcs.sweeps.registry import OperatorFamily as OperatorFamily
from jaxcs.sweeps.registry import RegistryError as RegistryError
from jaxcs.sweeps.registry import SolverFamily as SolverFamily
from jaxcs.sweeps.registry import register_model as register_model
from jaxcs.sweeps.registry import register_operator as register_operator
from jaxcs.sweeps.registry import register_solver as register_solver
from jaxcs.sweeps.registry import registered as registered
