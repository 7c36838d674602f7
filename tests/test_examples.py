"""The scripts in examples/ run (at tiny sizes) and say what they claim."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rip_sweep(capsys):
    delta = np.asarray(
        _load("rip_sweep").main(["--draws", "2", "--samples", "300", "--ks", "1", "8"])
    )
    assert delta.shape == (2, 2)
    assert np.all(np.isfinite(delta)) and np.all(delta >= 0)
    # Every support of 8 blocks contains supports of 1 block: δ_8 ≥ δ_1 draw by draw would need
    # the same supports; on average over draws the larger k must give the larger bound.
    assert delta[:, 1].mean() > delta[:, 0].mean()
    assert "lower bound" in capsys.readouterr().out


def test_image_reconstruction(capsys, tmp_path, monkeypatch):
    figure = pytest.importorskip("matplotlib.figure")
    drawn, savefig = [], figure.Figure.savefig
    monkeypatch.setattr(
        figure.Figure, "savefig", lambda self, *a, **k: (drawn.append(self), savefig(self, *a, **k))
    )
    errors = _load("image_reconstruction").main(
        ["--size", "16", "--steps", "150", "--plot", str(tmp_path / "img.png")]
    )
    one, many = errors.values()
    # one step is a rough inverse; many NIHT steps are a much better one
    assert 0.1 < one < 2.0
    assert many < 0.5 * one
    out = capsys.readouterr().out
    assert "one IHT step" in out and (tmp_path / "img.png").exists()
    # the figure: one contrast (the image's) for all panels, each reconstruction's error titled
    [fig] = drawn
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3 and len({im.get_clim() for im in images}) == 1
    titles = [im.axes.get_title() for im in images[1:]]
    for title, (name, err) in zip(titles, errors.items(), strict=True):
        assert name in title and f"rel. error ‖x − x̂‖/‖x‖ = {err:.3g}" in title


def test_theorem_3_1(capsys, tmp_path):
    rows = _load("theorem_3_1").main(["--quick", "--output", str(tmp_path)])
    assert len(rows) == 2  # M = 4, k ∈ {1, 4}: one compiled program
    for r in rows:
        assert np.isfinite(r["delta_lower_bound"]) and r["delta_lower_bound"] > 0
        if r["k"] == 1:  # a one-entry support: G_S = ‖w_i‖² is the code's own ratio²
            assert r["delta_from_eigenvalues"] == pytest.approx(r["delta_from_ratios"], rel=1e-5)
        else:  # the extremes over a support bound every code on it
            assert r["delta_from_eigenvalues"] >= r["delta_from_ratios"] - 1e-6
    assert (tmp_path / "theorem_3_1.png").exists() and (tmp_path / "results.csv").exists()
    assert "correlation" in capsys.readouterr().out
