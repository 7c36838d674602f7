"""Matplotlib figures from result dicts and sweep tables (the ``plot`` extra).

No computation happens here beyond averaging repeated cells: fits and curves come from
:mod:`jaxcs.analysis`. Sweep tables are read with :func:`jaxcs.sweeps.read_table` (standard
``csv`` only). Matplotlib is imported by each function when called: ``import jaxcs.plot`` needs
neither it nor JAX.
"""

from jaxcs.plot.paper import plot_fig2 as plot_fig2
from jaxcs.plot.paper import plot_fig3 as plot_fig3
from jaxcs.plot.paper import plot_reproduce_fig3 as plot_reproduce_fig3
from jaxcs.plot.paper import plot_reproduce_table1 as plot_reproduce_table1
from jaxcs.plot.sweeps import plot_phase_transition as plot_phase_transition
from jaxcs.plot.sweeps import plot_rip_ratios as plot_rip_ratios
from jaxcs.plot.sweeps import plot_success_curves as plot_success_curves
from jaxcs.plot.sweeps import plot_sweep as plot_sweep
