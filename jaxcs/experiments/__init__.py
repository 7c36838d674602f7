"""The paper's experiments as functions returning JSON-ready results (no plotting inside)."""

from jaxcs.experiments._stage_schema import StageFileError as StageFileError
from jaxcs.experiments.fig2 import MAIN_QUANTITIES as MAIN_QUANTITIES
from jaxcs.experiments.fig2 import Fig2Setup as Fig2Setup
from jaxcs.experiments.fig2 import run_fig2 as run_fig2
from jaxcs.experiments.fig3 import Fig3Setup as Fig3Setup
from jaxcs.experiments.fig3 import run_fig3 as run_fig3
from jaxcs.experiments.report import write_report as write_report
from jaxcs.experiments.reproduce import ReproduceSetup as ReproduceSetup
from jaxcs.experiments.reproduce import SetupMismatch as SetupMismatch
from jaxcs.experiments.reproduce import run_reproduce as run_reproduce
