"""Sweep tables read back (:func:`jaxcs.sweeps.read_table`): columns typed as integers, floats
(empty entries NaN) or strings; a ragged row is an error naming its line."""

from __future__ import annotations

import numpy as np
import pytest

from jaxcs.sweeps import read_table


def test_read_table_types_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("solver,k,rate,shape,ratio\nIHT,1,0.5,3x3,\nNIHT,2,1,5x5,1.25\n")
    table = read_table(path)
    assert table["solver"].tolist() == ["IHT", "NIHT"] and table["solver"].dtype.kind == "U"
    assert table["k"].dtype == np.int64 and table["k"].tolist() == [1, 2]
    assert table["rate"].dtype == np.float64 and table["rate"].tolist() == [0.5, 1.0]
    assert table["shape"].tolist() == ["3x3", "5x5"]
    assert np.isnan(table["ratio"][0]) and table["ratio"][1] == 1.25


def test_read_table_rejects_ragged_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="t.csv:3"):
        read_table(path)
