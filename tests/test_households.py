"""The model-facing move step (kernels are tested in tests/test_choice.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim.households import CellAttributes, ChoiceCoefficients, move_households

COEFS = ChoiceCoefficients(-2.0, -0.05, -0.2, 0.3, 1.5, 0.5)
INCOMES = np.array([300e3, 550e3, 800e3, 1.2e6, 2.8e6])


def world(rng, n_cells=40, n_households=120, groups=5):
    capacity = rng.integers(0, 8, n_cells).astype(np.int32)
    occ = np.zeros((n_cells, groups), dtype=np.int32)
    cells = np.repeat(np.arange(n_cells), capacity)
    take = rng.permutation(cells)[: min(n_households, cells.size)]
    hh_group = rng.integers(0, groups, n_households).astype(np.int8)
    hh_cell = np.full(n_households, -1, dtype=np.int32)
    hh_cell[: take.size] = take
    np.add.at(occ, (take, hh_group[: take.size]), 1)
    attrs = CellAttributes(
        rent=rng.uniform(50e3, 900e3, n_cells),
        commute=rng.uniform(5, 90, n_cells),
        service=rng.uniform(0, 5, n_cells),
        green=rng.uniform(0, 3, n_cells),
        mix=rng.dirichlet(np.ones(groups), n_cells),
    )
    return hh_cell, hh_group, capacity, occ, attrs


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_alt=st.integers(1, 40), base=st.floats(0, 0.5))
def test_moves_conserve_households_and_respect_capacity(seed, n_alt, base):
    rng = np.random.default_rng(seed)
    hh_cell, hh_group, capacity, occ, attrs = world(rng)
    before = hh_cell.copy()
    movers, moved, unhoused = move_households(
        hh_cell,
        hh_group,
        capacity,
        occ,
        attrs,
        INCOMES,
        COEFS,
        base_rate=base,
        dissatisfaction_rate=0.3,
        n_alternatives=n_alt,
        rng=rng,
    )
    assert (occ >= 0).all() and (occ.sum(axis=1) <= capacity).all()
    recount = np.zeros_like(occ)
    housed = hh_cell >= 0
    np.add.at(recount, (hh_cell[housed], hh_group[housed]), 1)
    np.testing.assert_array_equal(recount, occ)
    assert unhoused == (~housed).sum()
    changed = housed & (hh_cell != before)
    assert (attrs.rent[hh_cell[changed]] <= 0.5 * INCOMES[hh_group[changed]] + 1e-9).all()
    assert moved <= movers <= hh_cell.size


def test_same_seed_same_moves_different_seed_different():
    res = []
    for seed in (1, 1, 2):
        rng = np.random.default_rng(11)
        hh_cell, hh_group, capacity, occ, a = world(rng, n_cells=60, n_households=200)
        move_households(
            hh_cell,
            hh_group,
            capacity,
            occ,
            a,
            INCOMES,
            COEFS,
            base_rate=0.5,
            dissatisfaction_rate=0.2,
            n_alternatives=10,
            rng=np.random.default_rng(seed),
        )
        res.append(hh_cell)
    np.testing.assert_array_equal(res[0], res[1])
    assert not np.array_equal(res[0], res[2])


def test_bad_input_names_the_argument():
    rng = np.random.default_rng(0)
    hh_cell, hh_group, capacity, occ, a = world(rng)
    with pytest.raises(ValueError, match="n_alt"):
        move_households(
            hh_cell,
            hh_group,
            capacity,
            occ,
            a,
            INCOMES,
            COEFS,
            base_rate=0.1,
            dissatisfaction_rate=0.1,
            n_alternatives=0,
            rng=rng,
        )
    with pytest.raises(ValueError, match="income"):
        move_households(
            hh_cell,
            hh_group,
            capacity,
            occ,
            a,
            -INCOMES,
            COEFS,
            base_rate=0.1,
            dissatisfaction_rate=0.1,
            n_alternatives=5,
            rng=rng,
        )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_alt=st.integers(1, 40))
def test_trusted_path_equals_validated_path(seed, n_alt):
    """check=False (the model's path) moves exactly as the validated path, over three years."""
    out = []
    for check in (True, False):
        rng = np.random.default_rng(seed)
        hh_cell, hh_group, capacity, occ, a = world(rng, n_cells=50, n_households=150)
        counts = [
            move_households(
                hh_cell,
                hh_group,
                capacity,
                occ,
                a,
                INCOMES,
                COEFS,
                base_rate=0.2,
                dissatisfaction_rate=0.3,
                n_alternatives=n_alt,
                rng=rng,
                check=check,
            )
            for _ in range(3)
        ]
        out.append((counts, hh_cell, occ, rng.random()))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])
    assert out[0][3] == out[1][3]
