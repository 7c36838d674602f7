"""Fig. 2 / Fig. 3 figures read on their own: every panel has both axis labels, an x range
fitted to its data (codes outside it are said), the mean in the legend and δ written on the
figure. Checked on the drawn Figure (captured at ``savefig``), not on pixels."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

from jaxcs.experiments.fig2 import Fig2Setup, run_fig2  # noqa: E402
from jaxcs.plot import plot_fig2, plot_fig3, plot_reproduce_fig3  # noqa: E402
from jaxcs.plot.style import _histogram_view  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# a small Fig. 2 run (about 12 s on two cores): the same code path and result as the default
TINY_FIG2 = dict(
    filter_shape=(3,), in_channels=8, out_channels=16, in_spatial=(12,), k=3,
    num_samples=200, checkpoint_every=200, iht_steps=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def fig2_result():
    return run_fig2(Fig2Setup(**TINY_FIG2), chunk_size=200)


@pytest.fixture
def drawn(monkeypatch):
    """The Figures written by ``savefig`` during the test (still written to disk)."""
    figures = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures


def texts(fig) -> str:
    """Every string on ``fig``: suptitle, titles, labels, legends, free texts."""
    found = [fig.get_suptitle()] + [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.texts]
        if ax.get_legend() is not None:
            found += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(found)


def legend(ax) -> list[str]:
    assert ax.get_legend() is not None, ax.get_title()
    return [t.get_text() for t in ax.get_legend().get_texts()]


def assert_labelled(fig):
    """Both axes of every panel are labelled (a y axis without ticks has no scale to name:
    Fig. 3's δ bracket is a 1-D picture)."""
    for ax in fig.axes:
        assert ax.get_xlabel().strip(), ax.get_title()
        if len(ax.get_yticks()):
            assert ax.get_ylabel().strip(), ax.get_title()


def test_fig2_panels(fig2_result, drawn, tmp_path):
    path = plot_fig2(fig2_result, tmp_path / "fig2.png")
    assert path == tmp_path / "fig2.png" and path.stat().st_size > 10_000
    [fig] = drawn
    assert len(fig.axes) == 3
    assert_labelled(fig)
    hist, q = fig2_result["histograms"], fig2_result["quantities"]
    panels = (("ratio_wt",), ("ratio_wwt", "ratio_wwt_full"), ("recon_error",))
    for ax, names in zip(fig.axes, panels, strict=True):
        name = names[0]
        edges = np.asarray(hist[name]["edges"])
        lo, hi = ax.get_xlim()
        assert edges[0] <= lo < hi <= edges[-1]
        # fitted to the data: its span and a 15 % margin each side (plus a bin), not all of 0–3
        span = max(q[n]["max"] for n in names) - min(q[n]["min"] for n in names)
        assert hi - lo <= 1.3 * span + 0.03
        # nothing hidden silently: the range covers every code, or the legend says what it hides
        inside = lo <= q[name]["min"] and q[name]["max"] <= hi
        assert inside or any("not shown" in t for t in legend(ax))
        assert lo <= q[name]["mean"] <= hi
        assert f"mean {q[name]['mean']:.3f}" in " ".join(legend(ax))
    # (a) is concentrated near 1: a narrow window around it, far from the 3-wide histogram
    lo, hi = fig.axes[0].get_xlim()
    assert lo < 1 < hi and hi - lo < 1.2
    assert any("full" in t for t in legend(fig.axes[1]))  # the unrestricted ratio, beside (b)
    assert "‖Wᵀz‖₂ / ‖z‖₂" in fig.axes[0].get_xlabel()
    assert "(WWᵀz)_S" in fig.axes[1].get_xlabel()
    assert "‖x − x̂‖₂ / ‖x‖₂" in fig.axes[2].get_xlabel()
    assert "fraction of codes" in fig.axes[0].get_ylabel()
    # δ on the figure: the bracket's ends and what the lower end is made of
    bracket, text = fig2_result["delta_bracket"], fig.get_suptitle()
    assert f"δ_k ∈ [{bracket['lower']:.3f}, {bracket['upper']:.3f}]" in text
    for value in (bracket["sampled"], bracket["search"]):
        assert f"{value:.3f}" in text
    assert f"{fig2_result['delta_lower_bound_random_z']:.3f}" in text


def test_fig2_says_what_lies_outside_the_range(fig2_result, drawn, tmp_path):
    result = copy.deepcopy(fig2_result)
    hist = result["histograms"]["ratio_wt"]
    counts = 10 * np.asarray(hist["counts"])  # 2000 codes: one more is under 0.1 %
    counts[-2] += 1  # a code at ≈ 2.98
    hist["counts"] = counts.tolist()
    hist["above"] = 3  # and three beyond the histogram's range
    plot_fig2(result, tmp_path / "fig2.png")
    ax = drawn[0].axes[0]
    assert ax.get_xlim()[1] < 2.0  # the outlier does not stretch the panel ...
    notes = [t for t in legend(ax) if "not shown" in t]
    assert len(notes) == 1 and "4 >" in notes[0] and "of 2004" in notes[0]  # ... it is counted


def test_fig2_without_a_bracket_writes_the_sampled_bound(fig2_result, drawn, tmp_path):
    result = {k: v for k, v in fig2_result.items() if k != "delta_bracket"}
    plot_fig2(result, tmp_path / "fig2.png")
    assert f"δ_k ≥ {result['delta_lower_bound']:.3f}" in texts(drawn[0])


def test_histogram_view_counts_every_hidden_code():
    edges = np.linspace(0.0, 3.0, 301)
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(1.0, 0.03, 5000), [2.5]])
    counts = np.histogram(values, edges)[0]
    lo, hi, [(below, above)] = _histogram_view([(edges, counts)])
    assert 0.8 < lo < 0.95 and 1.05 < hi < 1.2
    assert np.any(np.isclose(edges, lo)) and np.any(np.isclose(edges, hi))  # on bin edges
    visible = counts[(edges[:-1] >= lo - 1e-12) & (edges[1:] <= hi + 1e-12)].sum()
    assert below == 0 and above >= 1 and visible + below + above == values.size
    lo, hi, _ = _histogram_view([(edges, counts)], near=[1.2, 2.0])  # a near point joins
    assert 1.2 < hi < 1.5


def test_fig3_panels(drawn, tmp_path):
    result = json.loads((ROOT / "examples" / "fig3" / "fig3.json").read_text())
    plot_fig3(result, tmp_path / "fig3.png")
    [fig] = drawn
    assert len(fig.axes) == 3
    assert_labelled(fig)
    ax, ratio = fig.axes[0], result["ratio_wt"]
    edges = np.asarray(ratio["histogram"]["edges"])
    lo, hi = ax.get_xlim()
    assert edges[0] <= lo <= ratio["min"] and ratio["max"] <= hi <= edges[-1]
    assert hi - lo < 0.5 * (edges[-1] - edges[0])  # the codes, not the way to ratio 1
    entries = " ".join(legend(ax))
    assert f"mean {ratio['mean']:.3f}" in entries
    assert "ratio 1" in entries  # said, since it lies outside the window
    bracket = result["delta_bracket"]
    assert f"δ_k ∈ [{bracket['lower']:.3f}" in fig.axes[2].get_title()
    assert fig.axes[2].get_xscale() == "log"  # 0.13 … 48: a vacuous upper end
    assert f"upper bound {bracket['upper']:.3f}" in " ".join(legend(fig.axes[2]))


def test_reproduce_fig3_panels(drawn, tmp_path):
    rows = json.loads((ROOT / "examples" / "report" / "stages" / "fig3.json").read_text())["rows"]
    plot_reproduce_fig3(rows, tmp_path / "fig3.png")
    [fig] = drawn
    assert_labelled(fig)
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    assert len(fig.axes) == 2 * len(layers)
    for i, key in enumerate(("ratio_sampled", "ratio_alg2_relu")):
        for j, layer in enumerate(layers):
            ax = fig.axes[i * len(layers) + j]
            mine = [r for r in rows if r["layer"] == layer]
            lo, hi = ax.get_xlim()
            assert min(r["histogram"]["edges"][0] for r in mine) <= lo
            assert hi <= max(r["histogram"]["edges"][-1] for r in mine)
            entries = " ".join(legend(ax))
            for r in mine:
                assert f"{r['filters']}: mean {r[key]['mean']:.3f}" in entries
                assert f"{r['filters']}: δ ∈ [{r['delta_bracket']['lower']:.2f}" in ax.get_title()
                inside = lo <= r[key]["min"] and r[key]["max"] <= hi
                assert inside or f"not shown ({r['filters']})" in entries
