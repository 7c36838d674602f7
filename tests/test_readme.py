"""The README's Python blocks run as written, in order, in one namespace (as a new user would
paste them)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)
    jaxcs, np = namespace["jaxcs"], __import__("numpy")
    # the tour's figures are what it says they are
    assert namespace["h"].shape == (8, 28, 96) and namespace["A"].shape == (28 * 96, 32 * 32)
    assert np.all(np.asarray(namespace["deltas"]) > 0)
    assert jaxcs.Status.counts(namespace["sol"].status)["CONVERGED"] == 4  # the circulant
