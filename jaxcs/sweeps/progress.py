"""A sweep's progress: one bar for the whole run (process 0 only) with the problems done, their
rate, the ETA and the finished cells."""

from __future__ import annotations

from jaxcs._progress import bar


class SweepProgress:
    """One tqdm bar for the whole run (process 0 only): problems done, problems/s, the ETA,
    and the finished cells (cell × solver pairs whose every block is written)."""

    def __init__(self, groups, pending, per_cell, batch, initial, enabled):
        self.per_cell, self.batch = per_cell, batch
        self.missing = {g.index: set(pending[g.index]) for g in groups}
        self.cells = {g.index: len(g.cells) for g in groups}
        self.total_cells = sum(self.cells.values())
        self.bar = None
        if enabled:
            total = sum(g.num_problems(per_cell) for g in groups)
            self.bar = bar(total, initial=initial, desc="sweep", unit="problem")
            if self.bar is not None:
                self._show()

    def _finished_cells(self) -> int:
        done = 0
        for group, missing in self.missing.items():
            for position in range(self.cells[group]):
                first = position * self.per_cell // self.batch
                last = ((position + 1) * self.per_cell - 1) // self.batch
                done += not any(b in missing for b in range(first, last + 1))
        return done

    def _show(self) -> None:
        assert self.bar is not None  # called only while there is a bar
        self.bar.set_postfix_str(f"cells {self._finished_cells()}/{self.total_cells}")

    def update(self, group, blocks, problems: int) -> None:
        self.missing[group.index].difference_update(blocks)
        if self.bar is not None:
            self.bar.update(problems)
            self._show()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
