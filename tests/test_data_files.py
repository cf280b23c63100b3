"""A damaged data file is a DataError naming the file and what is wrong, never a bare error."""

from pathlib import Path

import numpy as np
import pytest

from metrosim.data import DataError, _read_ascii, _read_csv, data_dir

DEM = "dem_srtm_S34W071_15arcsec.asc"


def _copy_dem(tmp_path: Path, edit) -> Path:
    lines = (data_dir("santiago") / DEM).read_text(encoding="ascii").splitlines(keepends=True)
    p = tmp_path / DEM
    p.write_text("".join(edit(lines)), encoding="ascii")
    return p


def test_the_shipped_dem_reads():
    grid = _read_ascii(data_dir("santiago") / DEM)
    assert grid.values.shape == (240, 240) and np.isfinite(grid.values).any()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: ls[:8], "grid is (2, 240), header says (240, 240)"),  # 238 rows missing
        (lambda ls: [ls[0].replace("240", "abc"), *ls[1:]], "header ncols = 'abc' is not a number"),
        (lambda ls: [*ls[:2], *ls[3:]], "header line 6 is"),  # a header line missing
        (lambda ls: [ls[0], ls[1], "xcorner -71.0\n", *ls[3:]], "header lacks ['xllcorner']"),
        (lambda ls: [*ls[:6], "x" + ls[6], *ls[7:]], "the grid's values cannot be read"),
        (lambda ls: [], "header line 1 is ''"),
        (lambda ls: [*ls[:6], ls[6][: len(ls[6]) // 2] + "\n", *ls[7:]], "cannot be read"),
    ],
)
def test_a_damaged_ascii_raster(tmp_path, edit, message):
    p = _copy_dem(tmp_path, edit)
    with pytest.raises(DataError, match=f"^{DEM}: ") as err:
        _read_ascii(p)
    assert message in str(err.value)


def test_a_raster_that_is_not_text(tmp_path):
    p = tmp_path / DEM
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DataError, match="not an ASCII raster"):
        _read_ascii(p)


def test_a_csv_that_is_not_utf8_or_has_a_non_finite_number(tmp_path):
    from metrosim.data import _num

    p = tmp_path / "communes.csv"
    p.write_bytes(b"cut,lon\n13101,\xff\n")
    with pytest.raises(DataError, match=r"^communes.csv: not a UTF-8 text file"):
        _read_csv(p, ("cut", "lon"))
    p.write_text("cut,lon\n13101,inf\n13102,nan\n13103,\n", encoding="utf-8")
    rows = _read_csv(p, ("cut", "lon"))
    for row in rows[:2]:
        with pytest.raises(DataError, match="column 'lon' has non-finite value .*finite number"):
            _num(row, "lon", p)
    assert np.isnan(_num(rows[2], "lon", p, allow_empty=True))
    with pytest.raises(DataError, match="non-numeric value ''"):
        _num(rows[2], "lon", p)
