"""Small reference Mesa models used by mesa_nb's demo, tests, notebooks and benchmarks.

Every model:

* takes keyword parameters with defaults, the last one being ``rng=None``, which is
  handed to :class:`mesa.Model` (so ``rng=42`` gives a reproducible run);
* has a ``datacollector`` that records once at the end of ``__init__`` (step 0)
  and once at the end of every ``step()`` (steps 1, 2, ...);
* uses only module-level functions or attribute names as reporters (no
  lambdas). Models and collectors pickle with ``cloudpickle``; the standard
  ``pickle`` fails on every Mesa DataCollector with attribute-name agent
  reporters (Mesa builds them as local closures), in Mesa 3.3 and in 3.5. On
  Mesa 3.3 a grid whose cells have cached their neighbourhoods (a model that
  has stepped, or a Schelling model) is too deeply linked to pickle.

The models use only the parts of Mesa's API that are the same in Mesa 3.3, 3.5
and 4 (``mesa.Model``, ``mesa.Agent``, ``mesa.DataCollector``, the
``mesa.discrete_space`` grid and ``CellAgent``, ``model.agents``/``shuffle_do``
and ``agent.remove()``); none reads ``model.steps``, which Mesa 4 does not have.

Models:

* :class:`BoltzmannWealth`: the classic wealth-exchange model on a grid.
* :class:`BoltzmannWealthNoSpace`: a tiny, fast, non-spatial variant.
* :class:`EconomicModel`: agents that invest, trade and are taxed.
* :class:`PopulationModel`: births and deaths with logistic growth; can stop early.
* :class:`Schelling`: Schelling's segregation model; stops when all are happy.
* :class:`Outbreak`: a stochastic SIR epidemic; its attack rate is a proportion
  whose replicates have two peaks (the outbreak dies out or takes off).
"""

import math
from collections.abc import Iterable

from mesa.discrete_space import CellAgent, OrthogonalMooreGrid

from .core.mesa_adapter import mesa

__all__ = [
    "BoltzmannWealth",
    "BoltzmannWealthNoSpace",
    "EconomicAgent",
    "EconomicModel",
    "Epidemic",
    "MoneyAgent",
    "Outbreak",
    "PersonAgent",
    "PopulationModel",
    "Schelling",
    "SchellingAgent",
    "compute_gini",
    "gini",
]


# --------------------------------------------------------------------------- #
# Shared reporters
# --------------------------------------------------------------------------- #


def gini(values: Iterable[float]) -> float:
    """Gini coefficient of non-negative ``values`` (0.0 if empty or all zero)."""
    ordered = sorted(values)
    n = len(ordered)
    total = sum(ordered)
    if n == 0 or total <= 0:
        return 0.0
    weighted = sum(rank * value for rank, value in enumerate(ordered, start=1))
    return 2.0 * weighted / (n * total) - (n + 1) / n


def compute_gini(model: mesa.Model) -> float:
    """Gini coefficient of the ``wealth`` of the model's agents."""
    return gini(agent.wealth for agent in model.agents)


def _population(model: mesa.Model) -> int:
    return len(model.agents)


def _mean_age(model: mesa.Model) -> float:
    n = len(model.agents)
    return sum(agent.age for agent in model.agents) / n if n else 0.0


def _total_wealth(model: mesa.Model) -> float:
    return float(sum(agent.wealth for agent in model.agents))


def _mean_wealth(model: mesa.Model) -> float:
    n = len(model.agents)
    return _total_wealth(model) / n if n else 0.0


def _torus(
    model: mesa.Model, width: int, height: int, capacity: int | None = None
) -> OrthogonalMooreGrid:
    """A ``width`` x ``height`` Moore torus that draws from ``model.random``."""
    return OrthogonalMooreGrid(
        (width, height), torus=True, capacity=capacity, random=model.random
    )


# --------------------------------------------------------------------------- #
# Boltzmann wealth models
# --------------------------------------------------------------------------- #


class MoneyAgent(CellAgent):
    """An agent with some wealth, who gives one unit away per step if it can."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.wealth = 1

    def step(self) -> None:
        """Move to a random neighbouring cell, then give 1 unit to a cellmate."""
        self.cell = self.cell.neighborhood.select_random_cell()
        if self.wealth > 0:
            others = [a for a in self.cell.agents if a is not self]
            if others:
                self.random.choice(others).wealth += 1
                self.wealth -= 1


class _WealthModel(mesa.Model):
    """What the two Boltzmann wealth models share: their records and their step."""

    def _start_recording(self) -> None:
        """Set up the Gini / Wealth collector and record step 0."""
        self.datacollector = mesa.DataCollector(
            model_reporters={"Gini": compute_gini},
            agent_reporters={"Wealth": "wealth"},
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        """Activate every agent once, in random order, then record."""
        self.agents.shuffle_do("step")
        self.datacollector.collect(self)


class BoltzmannWealth(_WealthModel):
    """Boltzmann wealth model: agents roam a torus grid, giving money to cellmates."""

    def __init__(
        self, n: int = 100, width: int = 10, height: int = 10, rng=None
    ) -> None:
        super().__init__(rng=rng)
        self.num_agents = n
        self.grid = _torus(self, width, height)
        for _ in range(n):
            MoneyAgent(self).cell = self.grid.all_cells.select_random_cell()
        self._start_recording()


class _NoSpaceMoneyAgent(mesa.Agent):
    """Like :class:`MoneyAgent`, without a cell: trades with anybody."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.wealth = 1

    def step(self) -> None:
        """Give 1 unit to a random other agent if wealth > 0."""
        if self.wealth <= 0:
            return
        population = self.model.agent_list
        if len(population) < 2:
            return
        other = self.random.choice(population)
        while other is self:  # rejection sampling: cheap, as n >= 2
            other = self.random.choice(population)
        other.wealth += 1
        self.wealth -= 1


class BoltzmannWealthNoSpace(_WealthModel):
    """Non-spatial Boltzmann wealth model, small and fast for many tiny runs."""

    def __init__(self, n: int = 10, rng=None) -> None:
        super().__init__(rng=rng)
        self.num_agents = n
        # A plain list: random.choice on it is O(1) (AgentSet indexing is O(n)
        # in Mesa 3.3 and deprecated in Mesa 3.5). Agents are never removed.
        self.agent_list = [_NoSpaceMoneyAgent(self) for _ in range(n)]
        self._start_recording()


# --------------------------------------------------------------------------- #
# Economic model
# --------------------------------------------------------------------------- #


class EconomicAgent(CellAgent):
    """A trader who invests part of its wealth and trades with its neighbours."""

    def __init__(self, model: mesa.Model, wealth: float, risk_tolerance: float) -> None:
        super().__init__(model)
        self.wealth = wealth
        self.risk_tolerance = risk_tolerance
        self.investments: list[float] = []
        self.transactions = 0

    def step(self) -> None:
        """Invest, trade with a neighbour, then collect matured investments."""
        self.invest()
        self.trade()
        self.collect_returns()

    def invest(self) -> None:
        """With probability ``risk_tolerance``, invest 10% of wealth (at most 20)."""
        if self.wealth > 50 and self.random.random() < self.risk_tolerance:
            amount = min(0.1 * self.wealth, 20.0)
            self.wealth -= amount
            self.investments.append(amount)

    def trade(self) -> None:
        """Exchange about 5% of the poorer party's wealth with a random neighbour.

        The direction is random, so trading conserves total wealth and can never
        make either party's wealth negative.
        """
        neighbours = [a for a in self.cell.neighborhood.agents if a is not self]
        if not neighbours:
            return
        partner = self.random.choice(neighbours)
        amount = 0.05 * min(self.wealth, partner.wealth) * self.random.uniform(0.9, 1.1)
        if self.random.random() < 0.5:
            self.wealth += amount
            partner.wealth -= amount
        else:
            self.wealth -= amount
            partner.wealth += amount
        self.transactions += 1
        partner.transactions += 1

    def collect_returns(self) -> None:
        """Each investment matures w.p. 0.1 per step, paying a lognormal multiple."""
        if not self.investments:
            return
        still_invested = []
        for investment in self.investments:
            if self.random.random() < 0.1:
                self.wealth += investment * self.random.lognormvariate(0.0, 0.5)
            else:
                still_invested.append(investment)
        self.investments = still_invested


class EconomicModel(mesa.Model):
    """Investing, trading agents on a grid, with market shocks and a wealth tax."""

    TAX_THRESHOLD = 100.0
    SHOCK_STD = 0.1

    def __init__(
        self,
        n_agents: int = 100,
        width: int = 20,
        height: int = 20,
        mean_initial_wealth: float = 100,
        wealth_std: float = 20,
        market_volatility: float = 0.1,
        taxation_rate: float = 0.0,
        rng=None,
    ) -> None:
        super().__init__(rng=rng)
        if mean_initial_wealth <= 0:
            raise ValueError(
                f"mean_initial_wealth must be > 0, got {mean_initial_wealth!r}"
            )
        self.num_agents = n_agents
        self.market_volatility = market_volatility
        self.taxation_rate = taxation_rate
        self.total_taxes_collected = 0.0
        self.grid = _torus(self, width, height)

        mu = math.log(mean_initial_wealth)
        sigma = max(0.0, wealth_std / mean_initial_wealth)
        for _ in range(n_agents):
            wealth = max(10.0, self.random.lognormvariate(mu, sigma))
            agent = EconomicAgent(self, wealth, self.random.betavariate(2, 2))
            agent.cell = self.grid.all_cells.select_random_cell()

        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Total Wealth": _total_wealth,
                "Mean Wealth": _mean_wealth,
                "Gini": compute_gini,
                "Taxes Collected": "total_taxes_collected",
            },
            agent_reporters={"Wealth": "wealth", "Transactions": "transactions"},
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        """Maybe shock the market, levy the tax, let every agent act, then record."""
        if self.random.random() < self.market_volatility:
            self.market_shock()
        if self.taxation_rate > 0:
            self.levy_taxes()
        self.agents.shuffle_do("step")
        self.datacollector.collect(self)

    def market_shock(self) -> None:
        """Multiply each agent's wealth by its own ``1 + N(0, 0.1)``, floored at 0."""
        for agent in self.agents:
            factor = 1.0 + self.random.normalvariate(0.0, self.SHOCK_STD)
            agent.wealth = max(0.0, agent.wealth * factor)

    def levy_taxes(self) -> None:
        """Tax wealth above 100 at ``taxation_rate``; taxes leave the economy.

        ``total_taxes_collected`` (reporter "Taxes Collected") is cumulative.
        """
        for agent in self.agents:
            excess = agent.wealth - self.TAX_THRESHOLD
            if excess > 0:
                tax = excess * self.taxation_rate
                agent.wealth -= tax
                self.total_taxes_collected += tax


# --------------------------------------------------------------------------- #
# Population model
# --------------------------------------------------------------------------- #


class PersonAgent(mesa.Agent):
    """A person who ages, may die, and may have a child each step."""

    def __init__(self, model: mesa.Model, age: int = 0) -> None:
        super().__init__(model)
        self.age = age

    def step(self) -> None:
        """Age one year; die of old age or at random; otherwise maybe reproduce."""
        model = self.model
        self.age += 1
        if (
            self.age >= model.max_lifespan
            or self.random.random() < model.BACKGROUND_MORTALITY
        ):
            model.deaths += 1
            self.remove()
        elif self.random.random() < model.birth_probability:
            model.births += 1  # the child is created by the model after the step


class PopulationModel(mesa.Model):
    """Ageing population, logistic births; stops on extinction or explosion."""

    BACKGROUND_MORTALITY = 0.01  # chance per step of dying before old age
    EXPLOSION_FACTOR = 1.5  # stop once population > carrying_capacity * this

    def __init__(
        self,
        initial_population: int = 100,
        carrying_capacity: int = 500,
        base_reproduction_rate: float = 0.05,
        max_lifespan: int = 80,
        rng=None,
    ) -> None:
        super().__init__(rng=rng)
        if max_lifespan < 1:
            raise ValueError(f"max_lifespan must be >= 1, got {max_lifespan!r}")
        self.carrying_capacity = carrying_capacity
        self.base_reproduction_rate = base_reproduction_rate
        self.max_lifespan = max_lifespan
        self.births = 0
        self.deaths = 0
        self.birth_probability = 0.0
        for _ in range(initial_population):
            PersonAgent(self, age=self.random.randrange(max_lifespan))
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Population": _population,
                "Mean Age": _mean_age,
                "Births": "births",
                "Deaths": "deaths",
            },
            agent_reporters={"Age": "age"},
        )
        self._check_running()
        self.datacollector.collect(self)

    def _birth_probability(self, population: int) -> float:
        """Per-agent birth chance: ``rate * (1 - N / K)``, clipped to [0, 1]."""
        if self.carrying_capacity <= 0:
            return 0.0
        crowding = 1.0 - population / self.carrying_capacity
        return min(1.0, max(0.0, self.base_reproduction_rate * crowding))

    def _check_running(self) -> None:
        population = len(self.agents)
        limit = self.carrying_capacity * self.EXPLOSION_FACTOR
        if population == 0 or population > limit:
            self.running = False

    def step(self) -> None:
        """Age, kill and breed the population, then record births/deaths this step."""
        self.births = 0
        self.deaths = 0
        self.birth_probability = self._birth_probability(len(self.agents))
        self.agents.shuffle_do("step")
        for _ in range(self.births):
            PersonAgent(self, age=0)
        self._check_running()
        self.datacollector.collect(self)


# --------------------------------------------------------------------------- #
# Schelling segregation model
# --------------------------------------------------------------------------- #


class SchellingAgent(CellAgent):
    """A resident of type 0 or 1 who moves away if too few neighbours are alike."""

    def __init__(self, model: mesa.Model, agent_type: int) -> None:
        super().__init__(model)
        self.type = agent_type

    def neighbour_counts(self) -> tuple[int, int]:
        """Return (neighbours of the same type, all neighbours) in the Moore ring."""
        own_type = self.type
        similar = total = 0
        for neighbour in self.cell.neighborhood.agents:
            if neighbour is not self:  # a 1-wide torus is its own neighbour
                total += 1
                similar += neighbour.type == own_type
        return similar, total

    def step(self) -> None:
        """Move to a random empty cell if fewer than ``homophily`` neighbours match."""
        similar, _ = self.neighbour_counts()
        model = self.model
        if similar < model.homophily and model.has_empty_cells:
            self.cell = model.grid.select_random_empty_cell()


class Schelling(mesa.Model):
    """Schelling segregation on a torus grid; stops once every agent is happy."""

    def __init__(
        self,
        width: int = 50,
        height: int = 50,
        density: float = 0.8,
        minority_fraction: float = 0.3,
        homophily: int = 3,
        rng=None,
    ) -> None:
        super().__init__(rng=rng)
        self.homophily = homophily
        self.grid = _torus(self, width, height, capacity=1)
        for cell in self.grid.all_cells:
            if self.random.random() < density:
                agent_type = int(self.random.random() < minority_fraction)
                SchellingAgent(self, agent_type).cell = cell
        # Agents neither come nor go; Mesa 3.3's empty-cell search never ends on
        # a full grid, so it is only asked when there is an empty cell.
        self.has_empty_cells = len(self.agents) < width * height
        self.happy = 0
        self.segregation = 0.0
        self.datacollector = mesa.DataCollector(
            model_reporters={"Happy": "happy", "Segregation": "segregation"},
            agent_reporters={"Type": "type"},
        )
        self._update_statistics()
        self.datacollector.collect(self)

    def _update_statistics(self) -> None:
        """Count happy agents and the mean share of same-type neighbours.

        Stops the model (``running = False``) when every agent is happy.
        """
        happy = 0
        shares = 0.0
        with_neighbours = 0
        for agent in self.agents:
            similar, total = agent.neighbour_counts()
            happy += similar >= self.homophily
            if total:
                shares += similar / total
                with_neighbours += 1
        self.happy = happy
        self.segregation = shares / with_neighbours if with_neighbours else 0.0
        if happy == len(self.agents):
            self.running = False

    def step(self) -> None:
        """Let every agent (maybe) move, in random order, then record."""
        self.agents.shuffle_do("step")
        self._update_statistics()
        self.datacollector.collect(self)


# --------------------------------------------------------------------------- #
# Outbreak
# --------------------------------------------------------------------------- #


class Outbreak(mesa.Model):
    """A stochastic SIR epidemic without space.

    One person is infected at the start; each infected person is infectious
    for one step, in which each susceptible person is infected with
    probability ``1 - exp(-r0 * infected / population)``. ``attack_rate`` is
    the share of the population ever infected: a proportion in [0, 1], near 0
    when the outbreak dies out and large when it takes off.
    """

    def __init__(self, population: int = 100, r0: float = 2.0, rng=None) -> None:
        super().__init__(rng=rng)
        self.population, self.r0 = population, r0
        self.susceptible, self.infected, self.recovered = population - 1, 1, 0
        self.attack_rate = 1 / population
        self.datacollector = mesa.DataCollector(
            model_reporters={"attack_rate": "attack_rate"}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        """Infect, recover, then record."""
        chance = 1 - math.exp(-self.r0 * self.infected / self.population)
        new = sum(self.random.random() < chance for _ in range(self.susceptible))
        self.recovered += self.infected
        self.infected, self.susceptible = new, self.susceptible - new
        self.attack_rate = (self.infected + self.recovered) / self.population
        self.datacollector.collect(self)


# --------------------------------------------------------------------------- #
# Epidemic (SIR with transmission and recovery rates)
# --------------------------------------------------------------------------- #


class Epidemic(mesa.Model):
    """A stochastic SIR epidemic (chain binomial) with rates ``beta``, ``gamma``.

    Each step, each susceptible person is infected with probability
    ``1 - exp(-beta * infected / population)`` and each infected person
    recovers with probability ``1 - exp(-gamma)`` (Bailey 1975's discrete-time
    SIR). Draws come from the model's own generator, so a seed gives the same
    curve. The run stops when nobody is infected. Reporters: ``Infected``,
    ``Susceptible``, ``Recovered``; the model to fit in
    ``notebooks/07_calibration.ipynb``.
    """

    def __init__(
        self,
        population: int = 1000,
        beta: float = 0.5,
        gamma: float = 0.2,
        initial_infected: int = 5,
        rng=None,
    ) -> None:
        super().__init__(rng=rng)
        self.population, self.beta, self.gamma = population, beta, gamma
        self.infected = min(initial_infected, population)
        self.susceptible = population - self.infected
        self.recovered = 0
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Infected": "infected",
                "Susceptible": "susceptible",
                "Recovered": "recovered",
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        """Infect and recover at once, then record; stop once nobody is infected."""
        infection = -math.expm1(-self.beta * self.infected / self.population)
        new = int(self.rng.binomial(self.susceptible, infection))
        recovering = int(self.rng.binomial(self.infected, -math.expm1(-self.gamma)))
        self.susceptible -= new
        self.infected += new - recovering
        self.recovered += recovering
        self.datacollector.collect(self)
        if self.infected == 0:
            self.running = False
