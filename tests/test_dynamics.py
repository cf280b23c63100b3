"""Statistical claims over seeds (never one seed): marked slow, run in CI."""

import numpy as np
import pytest

from metrosim import Scenario, run
from metrosim.experiments import compare, replicate_seeds

COARSE = Scenario(cell_size_m=1000.0, scale=50)


@pytest.mark.slow
def test_faster_travel_to_the_periphery_increases_peripheral_growth():
    # 500 m cells: at 1000 m one converted cell is 100 ha and yearly growth is a few cells.
    base = Scenario(cell_size_m=500.0, scale=20)
    diffs = []
    for seed in replicate_seeds(1, 4):
        slow = run(base.replace(speed_rural_kmh=20.0), seed=seed, years=10).yearly
        fast = run(base.replace(speed_rural_kmh=80.0), seed=seed, years=10).yearly
        diffs.append(fast["urban_area_ha"].iloc[-1] - slow["urban_area_ha"].iloc[-1])
    diffs = np.array(diffs)
    assert diffs.mean() > 0 and (diffs > 0).sum() >= 3, diffs


@pytest.mark.slow
def test_growth_boundary_lowers_new_urban_land_over_seeds():
    res = compare(
        [
            COARSE.replace(name="frag"),
            COARSE.replace(name="ugb", growth_boundary="urban_limit_2017"),
        ],
        seeds=4,
        years=8,
    )
    final = res.runs[res.runs["year"] == res.runs["year"].max()].pivot(
        index="seed", columns="scenario", values="urban_area_ha"
    )
    assert (final["ugb"] <= final["frag"]).all()
    assert (final["ugb"] < final["frag"]).sum() >= 3


def test_compare_uses_common_seeds_and_is_reproducible(tmp_path):
    kw = dict(seeds=2, years=2)
    scen = [COARSE.replace(name="a"), COARSE.replace(name="b", beta_homophily=0.0)]
    r1 = compare(scen, out=tmp_path / "x", **kw)
    r2 = compare(scen, **kw)
    assert sorted(r1.runs["seed"].unique()) == sorted(replicate_seeds(0, 2))
    assert set(r1.runs.groupby("scenario")["seed"].apply(frozenset)) == {
        frozenset(replicate_seeds(0, 2))
    }
    import pandas.testing as pdt

    pdt.assert_frame_equal(r1.runs, r2.runs)
    for name in ("runs.parquet", "municipal.parquet", "summary.csv", "manifest.json"):
        assert (tmp_path / "x" / name).is_file()
    base = r1.summary[r1.summary["scenario"] == "a"]
    assert (base["diff"] == 0).all()


def test_compare_rejects_duplicate_names():
    with pytest.raises(ValueError, match="names must differ"):
        compare([COARSE, COARSE], seeds=1, years=1)
