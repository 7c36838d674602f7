"""The paper's experiments as functions returning JSON-ready results (no plotting inside), with
the text summaries the console prints, and ``jaxcs bench``'s solver throughput."""

from jaxcs.experiments._stage_schema import StageFileError as StageFileError
from jaxcs.experiments.bench import bench as bench
from jaxcs.experiments.bench import format_bench as format_bench
from jaxcs.experiments.fig2 import MAIN_QUANTITIES as MAIN_QUANTITIES
from jaxcs.experiments.fig2 import Fig2Setup as Fig2Setup
from jaxcs.experiments.fig2 import format_fig2 as format_fig2
from jaxcs.experiments.fig2 import run_fig2 as run_fig2
from jaxcs.experiments.fig3 import Fig3Setup as Fig3Setup
from jaxcs.experiments.fig3 import format_fig3 as format_fig3
from jaxcs.experiments.fig3 import run_fig3 as run_fig3
from jaxcs.experiments.report import format_comparison as format_comparison
from jaxcs.experiments.report import write_report as write_report
from jaxcs.experiments.reproduce import ReproduceSetup as ReproduceSetup
from jaxcs.experiments.reproduce import SetupMismatch as SetupMismatch
from jaxcs.experiments.reproduce import run_reproduce as run_reproduce
