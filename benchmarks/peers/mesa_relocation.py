"""metrosim's household relocation rule as an idiomatic Mesa 3.5 model (the benchmark peer).

Written the way a typical Mesa user would: one ``CellAgent`` per household on an
``OrthogonalMooreGrid`` whose cells carry their dwelling capacity (``Cell.capacity``, which Mesa
enforces) and whose cell attributes are ``PropertyLayer``s (rent, commute, service, green, and
one ``mix_g`` layer per income group); ``Model(rng=seed)``; each year
``agents.shuffle_do("step")``. Nothing deprecated (no ``mesa.space``, no ``seed=``). Random
draws in the agents use the model's ``self.random`` (the stdlib generator that Mesa seeds from
``rng`` and that ``shuffle_do`` uses), the cheapest generator for scalar draws in Python.

The rule is that of ``metrosim.households.move_households`` (kernels in
``metrosim._kernels.choice``, rule in ``metrosim.choice``) with the same inputs
(``benchmarks.common.World``):

1. At the start of a year every cell's neighbourhood income mix is recomputed: shares of each
   income group among the households of the cells within Moore radius r, centre included
   (``cell.get_neighborhood(radius=r, include_center=True)``).
2. Per income group, the market reference ``Vref_g = ln(mean(exp V))`` over the dwellings the
   group can afford among ``n_alt`` vacant dwellings drawn uniformly (with replacement).
3. In random order, each household moves with probability
   ``base + d * (1 - exp(-max(0, Vref_g - V(own dwelling))))`` (always if unhoused). A mover
   draws ``n_alt`` vacant dwellings uniformly (its own is not vacant while it decides), drops
   those whose rent exceeds ``max_rent_share`` of its income, and picks among its own dwelling
   (staying) and the rest by multinomial logit on ``V = b_rent rent/income + b_commute minutes
   + b_service km + b_green green + b_homophily own-group share``; if it moves, its old
   dwelling becomes vacant for the households after it.

Deciding and moving one household at a time in a shuffled order is the same process as the
kernel's "select all movers, then relocate them in a random order": a household's decision
depends only on its own dwelling and on quantities fixed for the year (mix and ``Vref``).

Uniform draws among vacant *dwellings* (not cells) need a list with one entry per vacant
dwelling; :class:`Vacancies` keeps it with O(1) updates, as a careful Mesa user would (the naive
``random.choices(cells, weights=vacancies)`` is O(cells) per draw and would make this peer
hundreds of times slower at 100k households, which is not the comparison we want).
"""

from __future__ import annotations

import math

import mesa
import numpy as np
from mesa.discrete_space import CellAgent, OrthogonalMooreGrid, PropertyLayer

from benchmarks.common import N_GROUPS, World

__all__ = ["Household", "RelocationModel", "Vacancies"]


class Vacancies:
    """One entry per vacant dwelling (a cell appears once per vacant dwelling)."""

    def __init__(self, cells, random):
        self.random = random
        self.slots = []
        self.positions = {}  # cell -> positions of its entries in slots
        for cell in cells:
            for _ in range(cell.capacity - len(cell.agents)):
                self.release(cell)

    def __len__(self) -> int:
        return len(self.slots)

    def release(self, cell) -> None:
        """One more vacant dwelling in ``cell``."""
        self.positions.setdefault(cell, []).append(len(self.slots))
        self.slots.append(cell)

    def take(self, cell) -> None:
        """One vacant dwelling of ``cell`` is occupied."""
        pos = self.positions[cell].pop()
        last_index = len(self.slots) - 1
        last = self.slots.pop()
        if pos != last_index:
            self.slots[pos] = last
            where = self.positions[last]
            where[where.index(last_index)] = pos

    def sample(self, k: int) -> list:
        """``k`` vacant dwellings drawn uniformly with replacement (their cells)."""
        if not self.slots:
            return []
        return self.random.choices(self.slots, k=k)


class Household(CellAgent):
    """A household of an income group; its ``cell`` is its dwelling (None if unhoused)."""

    def __init__(self, model: RelocationModel, group: int):
        super().__init__(model)
        self.group = group
        self.income = model.incomes[group]

    def utility(self, cell) -> float:
        return self.model.utility(cell, self.group)

    def step(self) -> None:
        model = self.model
        if self.cell is not None:
            p = model.base_rate
            vref = model.vref[self.group]
            if vref > -math.inf:
                gap = vref - self.utility(self.cell)
                if gap > 0:
                    p += model.dissatisfaction_rate * (1.0 - math.exp(-gap))
            if self.random.random() >= p:
                return
        model.movers += 1
        self.relocate()

    def relocate(self) -> None:
        model = self.model
        current = self.cell
        options = []
        utilities = []
        if current is not None:  # staying is always possible, affordable or not
            options.append(current)
            utilities.append(self.utility(current))
        max_rent = model.max_rent_share * self.income
        # its own dwelling is not vacant while it decides, so it is never drawn
        for cell in model.vacancies.sample(model.n_alt):
            if cell.rent <= max_rent:
                options.append(cell)
                utilities.append(self.utility(cell))
        if not options:
            model.unhoused += 1
            return
        vmax = max(utilities)
        weights = [math.exp(u - vmax) for u in utilities]
        pick = self.random.choices(range(len(options)), weights=weights)[0]
        if current is not None and pick == 0:
            return  # stays
        choice = options[pick]
        model.vacancies.take(choice)
        if current is not None:
            model.vacancies.release(current)
        self.cell = choice  # Mesa moves the agent (and enforces the cell's capacity)
        if choice is not current:
            model.moved += 1


class RelocationModel(mesa.Model):
    """Households on a grid of dwellings; ``step()`` is one year of moves."""

    def __init__(self, world: World, rng: int | None = None):
        super().__init__(rng=rng)
        self.ny, self.nx = world.ny, world.nx
        self.radius = world.radius
        c = world.coefs
        self.b_rent, self.b_commute, self.b_service = (
            c.rent_share,
            c.commute_per_min,
            c.service_per_km,
        )
        self.b_green, self.b_homophily = c.green, c.homophily
        self.max_rent_share = c.max_rent_share
        self.base_rate = world.base_rate
        self.dissatisfaction_rate = world.dissatisfaction_rate
        self.n_alt = world.n_alt
        self.incomes = [float(v) for v in world.incomes]
        self.grid = OrthogonalMooreGrid((self.ny, self.nx), torus=False, random=self.random)
        shape = (self.ny, self.nx)
        for name in ("rent", "commute", "service", "green"):
            data = getattr(world, name).reshape(shape)
            self.grid.add_property_layer(PropertyLayer.from_data(name, data))
        self.mix_names = [f"mix_{g}" for g in range(N_GROUPS)]
        for name in self.mix_names:
            self.grid.create_property_layer(name, default_value=0.0, dtype=float)
        capacity = world.capacity.reshape(shape)
        for cell in self.grid.all_cells:
            cell.capacity = int(capacity[cell.coordinate])
        self.households = []  # creation order, for read-outs
        for flat_cell, group in zip(world.hh_cell.tolist(), world.hh_group.tolist(), strict=True):
            household = Household(self, group)
            self.households.append(household)
            if flat_cell >= 0:
                household.cell = self.grid[divmod(flat_cell, self.nx)]
        self.vacancies = Vacancies(self.grid.all_cells, self.random)
        self.vref = [-math.inf] * N_GROUPS
        self.movers = self.moved = self.unhoused = 0

    def utility(self, cell, group: int) -> float:
        return (
            self.b_rent * cell.rent / self.incomes[group]
            + self.b_commute * cell.commute
            + self.b_service * cell.service
            + self.b_green * cell.green
            + self.b_homophily * getattr(cell, self.mix_names[group])
        )

    def update_mix(self) -> None:
        """Neighbourhood income mix of every cell, from the households around it."""
        for cell in self.grid.all_cells:
            counts = [0] * N_GROUPS
            neighbourhood = cell.get_neighborhood(radius=self.radius, include_center=True)
            for household in neighbourhood.agents:
                counts[household.group] += 1
            total = sum(counts)
            for name, n in zip(self.mix_names, counts, strict=True):
                setattr(cell, name, n / total if total else 0.0)

    def update_reference_utilities(self) -> None:
        """ln(mean(exp V)) over a sample of affordable vacant dwellings, per income group."""
        for g in range(N_GROUPS):
            max_rent = self.max_rent_share * self.incomes[g]
            values = [
                self.utility(cell, g) for cell in self.vacancies.sample(self.n_alt)
                if cell.rent <= max_rent
            ]  # fmt: skip
            if values:
                m = max(values)
                self.vref[g] = m + math.log(sum(math.exp(v - m) for v in values) / len(values))
            else:
                self.vref[g] = -math.inf

    def moves(self) -> tuple[int, int, int]:
        """This year's moves: (movers, moved, unhoused)."""
        self.movers = self.moved = self.unhoused = 0
        self.update_reference_utilities()
        self.agents.shuffle_do("step")
        return self.movers, self.moved, self.unhoused

    def step(self) -> None:
        self.update_mix()
        self.moves()

    # --- read-outs for comparisons with the kernel -------------------------------------------
    def household_cells(self) -> np.ndarray:
        """Flat cell index of each household in creation order (-1 if unhoused)."""
        return np.array(
            [
                -1 if h.cell is None else h.cell.coordinate[0] * self.nx + h.cell.coordinate[1]
                for h in self.households
            ],
            dtype=np.int64,
        )

    def household_groups(self) -> np.ndarray:
        return np.array([h.group for h in self.households], dtype=np.int64)

    def mix(self) -> np.ndarray:
        """(n_cells, 5) neighbourhood mix, flat row-major like the kernel's."""
        return np.stack([getattr(self.grid, name).data.ravel() for name in self.mix_names], axis=1)
