"""Validation of the fragmented baseline against Santiago's facts.

:func:`validate` runs today's rules from the 2017 state over several seeds and compares the
model with the facts of ``data/santiago/facts.md`` (each with its source). Every tolerance is
stated here, in advance, in :data:`FACTS`; a fact the model misses stays in the table as
missed. Nothing is tuned to a seed.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from metrosim._atomic import atomic_write_text
from metrosim.experiments import ExperimentError, replicate_seeds
from metrosim.metrics import lee_sallee
from metrosim.model import MetroModel
from metrosim.scenario import Scenario

__all__ = ["Fact", "FACTS", "measure_run", "validate", "validation_table"]

#: Per-capita municipal budget 2019 (CLP per inhabitant, excluding health and education),
#: Observatorio del Gasto Fiscal via La Tercera (facts.md section 5).
BUDGET_2019 = {
    13132: 1_136_044,  # Vitacura
    13114: 1_129_510,  # Las Condes
    13602: 941_793,  # Alhué
    13123: 880_085,  # Providencia
    13604: 156_492,  # Padre Hurtado
    13201: 150_297,  # Puente Alto
    13121: 146_164,  # Pedro Aguirre Cerda
    13103: 143_328,  # Cerro Navia
}
#: Shares of the FCM paid in, Q1 2018 (Diario Financiero; facts.md section 5).
FCM_SHARES_2018 = {13114: 0.257, 13101: 0.092, 13123: 0.091, 13132: 0.042}
#: The north-eastern high-income cone (facts.md section 0: lowest IPS 2019).
NORTH_EAST = {13132, 13114, 13123, 13115, 13113, 13120}  # Vitacura, Las Condes, Providencia,
# Lo Barnechea, La Reina, Ñuñoa
#: Richest and poorest communes by IPS 2019 (lowest and highest index within Gran Santiago).
RICHEST = {13132, 13114, 13123}  # Vitacura, Las Condes, Providencia
POOREST = {13112, 13116, 13103}  # La Pintana, Lo Espejo, Cerro Navia


@dataclass(frozen=True)
class Fact:
    """A fact, its source, how to measure it in a run, and the tolerance stated in advance."""

    name: str
    observed: str
    source: str
    tolerance: str
    measure: Callable[[dict], float]
    passes: Callable[[float], bool]


def _ctx_value(key: str) -> Callable[[dict], float]:
    return lambda ctx: ctx[key]


FACTS: tuple[Fact, ...] = (
    Fact(
        "population by commune at the start (largest error, in simulated households)",
        "Censo 2017 populations (7,112,808 in 52 communes)",
        "INE Censo 2017 (communes.csv)",
        "<= 0.5: every commune within the rounding of the scale",
        _ctx_value("pop_error"),
        lambda v: v <= 0.5 + 1e-9,
    ),
    Fact(
        "per-capita budget, richest / poorest commune (2019)",
        "7.9x (Vitacura vs Cerro Navia)",
        "Observatorio del Gasto Fiscal via La Tercera (facts.md 5)",
        "within a factor 1.5: 5.3x to 11.9x",
        _ctx_value("budget_ratio"),
        lambda v: 7.9 / 1.5 <= v <= 7.9 * 1.5,
    ),
    Fact(
        "rank correlation of per-capita budget with the published figures (2019)",
        "8 communes: Vitacura, Las Condes, Alhué, Providencia top; Padre Hurtado, Puente Alto, "
        "Pedro Aguirre Cerda, Cerro Navia bottom",
        "Observatorio del Gasto Fiscal via La Tercera (facts.md 5)",
        "Spearman rho >= 0.7",
        _ctx_value("budget_rho"),
        lambda v: v >= 0.7,
    ),
    Fact(
        "share of the fund paid in by Las Condes",
        "25.7% (Q1 2018, national fund)",
        "Diario Financiero 12 Jul 2018 (facts.md 5)",
        "within +-50% relative (the model's fund is the region's only)",
        _ctx_value("fcm_share_13114"),
        lambda v: 0.5 * 0.257 <= v <= 1.5 * 0.257,
    ),
    Fact(
        "share of the fund paid in by Santiago",
        "9.2% (Q1 2018)",
        "Diario Financiero 12 Jul 2018 (facts.md 5)",
        "within +-50% relative",
        _ctx_value("fcm_share_13101"),
        lambda v: 0.5 * 0.092 <= v <= 1.5 * 0.092,
    ),
    Fact(
        "share of the fund paid in by Providencia",
        "9.1% (Q1 2018)",
        "Diario Financiero 12 Jul 2018 (facts.md 5)",
        "within +-50% relative",
        _ctx_value("fcm_share_13123"),
        lambda v: 0.5 * 0.091 <= v <= 1.5 * 0.091,
    ),
    Fact(
        "share of the fund paid in by Vitacura",
        "4.2% (Q1 2018)",
        "Diario Financiero 12 Jul 2018 (facts.md 5)",
        "within +-50% relative",
        _ctx_value("fcm_share_13132"),
        lambda v: 0.5 * 0.042 <= v <= 1.5 * 0.042,
    ),
    Fact(
        "Cerro Navia's revenue from the FCM",
        "77% (2019)",
        "La Tercera (facts.md 5)",
        "between 62% and 92%",
        _ctx_value("cerro_navia_fcm"),
        lambda v: 0.62 <= v <= 0.92,
    ),
    Fact(
        "green m2 per person, mean of the 3 richest communes by IPS (final year)",
        "above 10 m2 in the richest communes",
        "CNDU 2018; SIEDU BPU_29; Atisba (facts.md 2)",
        "> 10",
        _ctx_value("green_rich"),
        lambda v: v > 10,
    ),
    Fact(
        "green m2 per person, mean of the 3 poorest communes by IPS (final year)",
        "under 2 m2 in the poorest",
        "CNDU 2018; SIEDU BPU_29 (facts.md 2)",
        "< 2",
        _ctx_value("green_poor"),
        lambda v: v < 2,
    ),
    Fact(
        "growth of the urban footprint, % per year",
        "1.9%/yr in recent decades; 49,347 ha (1991) to 61,396 ha (2000) = 2.5%/yr",
        "Informe País 2019-2022; Ducci & González 2006 (facts.md 3)",
        "1.0 to 3.0 %/yr",
        _ctx_value("footprint_growth_pct"),
        lambda v: 1.0 <= v <= 3.0,
    ),
    Fact(
        "density of new development / density of the existing residential fabric",
        "about 0.4 (about 60% lower where unregulated)",
        "model brief seed fact",
        "0.25 to 0.6",
        _ctx_value("new_density_ratio"),
        lambda v: 0.25 <= v <= 0.6,
    ),
    Fact(
        "share of new urban land outside the 2017 census urban limit",
        "about three quarters of expansion outside urban limits",
        "model brief seed fact",
        "0.5 to 1.0",
        _ctx_value("outside_limit_share"),
        lambda v: 0.5 <= v <= 1.0,
    ),
    Fact(
        "Moran's I of household income on the grid (final year)",
        "positive spatial autocorrelation of income",
        "segregation literature (facts.md 4)",
        "> 0.1",
        _ctx_value("morans_i"),
        lambda v: v > 0.1,
    ),
    Fact(
        "richest 5 communes by mean household income that lie in the north-eastern cone",
        "the north-eastern cone of the richest communes",
        "IPS 2019 (facts.md 0)",
        ">= 4 of 5",
        _ctx_value("north_east_top5"),
        lambda v: v >= 4,
    ),
    Fact(
        "Lee-Sallee index, footprint at the start vs the final year (SLEUTH fit statistic)",
        "reported beside SLEUTH calibrations (no observed later footprint in the data)",
        "Clarke et al. 1997",
        "reported, no verdict",
        _ctx_value("lee_sallee"),
        lambda v: True,
    ),
)


def measure_run(model: MetroModel, years: int, progress=None) -> dict:
    """Run a model for ``years`` years and collect what the facts need.

    Returns
    -------
    dict
        One float per key that :data:`FACTS` measure (``budget_ratio``, ``fcm_share_13114``,
        ``footprint_growth_pct``, ...). Module-level, so that it can be sent to Dask workers
        as a :class:`~metrosim.experiments._runs.Job` ``measure``.
    """
    city = model.city
    pop0 = model.municipal["population"]
    per_household = model.params.household_size * model.params.scale
    ctx: dict = {"pop_error": float(np.max(np.abs(pop0 - city.population)) / per_household)}
    start_area = model.yearly["urban_area_ha"]
    start_urban = model.land.urban.copy()
    for k in range(years):
        model.step()
        if model.year == 2019:
            cut = city.cut
            bpc = model.finance["budget_per_capita"]
            core = city.in_core
            ctx["budget_ratio"] = float(bpc[core].max() / bpc[core].min())
            idx = [int(np.flatnonzero(cut == c)[0]) for c in BUDGET_2019]
            ctx["budget_rho"] = float(
                stats.spearmanr(bpc[idx], list(BUDGET_2019.values())).statistic
            )
            paid = model.finance["fcm_paid"]
            for c in FCM_SHARES_2018:
                ctx[f"fcm_share_{c}"] = float(paid[city.commune_index(c)] / paid.sum())
            i = city.commune_index(13103)
            ctx["cerro_navia_fcm"] = float(
                model.finance["fcm_received"][i] / max(model.finance["budget"][i], 1.0)
            )
        if progress:
            progress(k + 1, years)
    y = model.yearly
    mun = model.municipal
    green = mun["green_m2_per_person"]
    ctx["green_rich"] = float(np.mean([green[city.commune_index(c)] for c in RICHEST]))
    ctx["green_poor"] = float(np.mean([green[city.commune_index(c)] for c in POOREST]))
    ctx["footprint_growth_pct"] = float(
        100 * ((y["urban_area_ha"] / start_area) ** (1 / max(years, 1)) - 1)
    )
    ctx["new_density_ratio"] = float(y["new_urban_density_pph"] / y["residential_density_pph"])
    new = model.land.urban & ~start_urban
    limit = model.grid.urban_limit.ravel()
    ctx["outside_limit_share"] = float((new & ~limit).sum() / new.sum()) if new.any() else np.nan
    ctx["morans_i"] = float(y["morans_i_income"])
    occ = np.zeros((len(city.cut), 5))
    inside = model.commune_of_cell >= 0
    np.add.at(occ, model.commune_of_cell[inside], model.land.occupancy[inside])
    income = occ @ model.incomes / np.maximum(occ.sum(axis=1), 1)
    top5 = city.cut[np.argsort(-income)[:5]]
    ctx["north_east_top5"] = float(sum(int(c) in NORTH_EAST for c in top5))
    ctx["lee_sallee"] = lee_sallee(
        start_urban.reshape(model.grid.shape), model.land.urban.reshape(model.grid.shape)
    )
    return ctx


def validate(
    *,
    seeds: int = 5,
    years: int = 10,
    scenario: Scenario | None = None,
    base_seed: int = 0,
    out: str | Path | None = None,
    progress=None,
) -> pd.DataFrame:
    """Run the fragmented baseline over seeds and compare it with Santiago's facts.

    Parameters
    ----------
    seeds : int
        Replicates (seeds from :func:`metrosim.experiments.replicate_seeds`).
    years : int
        Years from 2017 (at least 2, to reach the 2019 budget figures).
    scenario : Scenario, optional
        Default: the ``fragmented`` preset.
    out : path, optional
        Folder for ``validation.csv`` and ``validation.html`` (atomic writes).

    Returns
    -------
    DataFrame
        fact, observed, source, model mean, model min and max over seeds, tolerance, verdict.

    Raises
    ------
    ExperimentError
        For years < 2 or seeds < 1 (a ``ValueError``).
    """
    if years < 2:
        raise ExperimentError(
            f"years = {years}; allowed: 2 or more (the budget facts are for 2019)"
        )
    if seeds < 1:
        raise ExperimentError(f"seeds = {seeds}; allowed: 1 or more")
    scenario = scenario if scenario is not None else Scenario.load("fragmented")
    runs = []
    for k, seed in enumerate(replicate_seeds(base_seed, seeds)):
        runs.append(measure_run(MetroModel(scenario, rng=seed), years))
        if progress:
            progress(k + 1, seeds)
    table = validation_table(runs)
    if out is not None:
        out = Path(out)
        atomic_write_text(out / "validation.csv", table.to_csv(index=False))
        atomic_write_text(out / "validation.html", _html(table, scenario, seeds, years))
    return table


def validation_table(runs: list[dict]) -> pd.DataFrame:
    """The validation table of runs measured by :func:`measure_run` (one dict per seed).

    A fact's verdict is taken on its mean over the runs; ``model_min`` and ``model_max`` show
    the spread over seeds.
    """
    rows = []
    for fact in FACTS:
        vals = np.array([fact.measure(r) for r in runs], dtype=float)
        mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        if fact.tolerance.startswith("reported"):
            verdict = "reported"
        elif not np.isfinite(mean):
            verdict = "not measurable"
        else:
            verdict = "met" if fact.passes(mean) else "missed"
        rows.append(
            {
                "fact": fact.name,
                "observed": fact.observed,
                "source": fact.source,
                "model_mean": mean,
                "model_min": float(np.nanmin(vals)) if np.isfinite(vals).any() else np.nan,
                "model_max": float(np.nanmax(vals)) if np.isfinite(vals).any() else np.nan,
                "tolerance": fact.tolerance,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def _html(table: pd.DataFrame, scenario: Scenario, seeds: int, years: int) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for _, r in table.iterrows():
        cells = []
        for c in table.columns:
            v = r[c]
            text = f"{v:.4g}" if isinstance(v, float) else str(v)
            cls = f' class="{r["verdict"].replace(" ", "-")}"' if c == "verdict" else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>metrosim validation</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}"
        ".met{background:#d4f4d4}.missed{background:#f8d0d0}</style></head><body>"
        f"<h1>Validation of the {html.escape(scenario.name)} baseline</h1>"
        f"<p>{seeds} seeds, {years} years from 2017, scale {scenario.scale}, "
        f"{scenario.cell_size_m:g} m cells. Tolerances were stated before running.</p>"
        f"<table><tr>{head}</tr>{''.join(body)}</table></body></html>\n"
    )
