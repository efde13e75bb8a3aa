"""The model of Mesa's batch-run tutorial, written as the tutorial writes it.

The Boltzmann wealth model on a ``mesa.space.MultiGrid`` (Mesa 3.0's
tutorial; later tutorials moved to ``mesa.discrete_space``), with the model
reporter ``Gini`` and the agent reporters ``Wealth`` and
``Steps_not_given``, collected at the start of every step. The one change:
it takes ``rng=`` (what ``batch_run``'s ``rng=[...]`` passes on Mesa 3.4+)
instead of the deprecated ``seed=``, so one definition runs on Mesa 3.3 and
3.5 alike.

Kept out of ``mesa_nb.examples`` on purpose: it is a user's model, with a
user's habits (a Gini that sorts a list per step, a reporter per attribute),
and must not change when the examples do. On a Mesa without ``mesa.space``
(Mesa 4) the model is the later tutorial's, on a ``mesa.discrete_space``
``OrthogonalMooreGrid`` with ``CellAgent`` s.
"""

import mesa

try:
    from mesa.space import MultiGrid
except ImportError:  # Mesa 4
    MultiGrid = None


def compute_gini(model):
    agent_wealths = [agent.wealth for agent in model.agents]
    x = sorted(agent_wealths)
    n = model.num_agents
    B = sum(xi * (n - i) for i, xi in enumerate(x)) / (n * sum(x))
    return 1 + (1 / n) - 2 * B


if MultiGrid is not None:

    class MoneyAgent(mesa.Agent):
        """An agent with fixed initial wealth."""

        def __init__(self, model):
            super().__init__(model)
            self.wealth = 1
            self.steps_not_given = 0

        def move(self):
            possible_steps = self.model.grid.get_neighborhood(
                self.pos, moore=True, include_center=False
            )
            new_position = self.random.choice(possible_steps)
            self.model.grid.move_agent(self, new_position)

        def give_money(self):
            cellmates = self.model.grid.get_cell_list_contents([self.pos])
            cellmates.pop(cellmates.index(self))
            if len(cellmates) > 0 and self.wealth > 0:
                other = self.random.choice(cellmates)
                other.wealth += 1
                self.wealth -= 1
                self.steps_not_given = 0
            else:
                self.steps_not_given += 1

    class MoneyModel(mesa.Model):
        """A model with some number of agents."""

        def __init__(self, n, width, height, rng=None):
            super().__init__(rng=rng)
            self.num_agents = n
            self.grid = MultiGrid(width, height, True)
            # Instantiate DataCollector
            self.datacollector = mesa.DataCollector(
                model_reporters={"Gini": compute_gini},
                agent_reporters={
                    "Wealth": "wealth",
                    "Steps_not_given": "steps_not_given",
                },
            )
            self.running = True

            # Create agents
            agents = MoneyAgent.create_agents(model=self, n=n)
            # Create x and y positions for agents
            x = self.rng.integers(0, self.grid.width, size=(n,))
            y = self.rng.integers(0, self.grid.height, size=(n,))
            for a, i, j in zip(agents, x, y, strict=True):
                # Add the agent to a random grid cell
                self.grid.place_agent(a, (i, j))

        def step(self):
            # Collect data each step
            self.datacollector.collect(self)
            self.agents.shuffle_do("move")
            self.agents.do("give_money")

else:
    from mesa.discrete_space import CellAgent, OrthogonalMooreGrid

    class MoneyAgent(CellAgent):
        """An agent with fixed initial wealth."""

        def __init__(self, model, cell):
            super().__init__(model)
            self.cell = cell
            self.wealth = 1
            self.steps_not_given = 0

        def move(self):
            self.cell = self.cell.neighborhood.select_random_cell()

        def give_money(self):
            cellmates = [a for a in self.cell.agents if a is not self]

            if len(cellmates) > 0 and self.wealth > 0:
                other = self.random.choice(cellmates)
                other.wealth += 1
                self.wealth -= 1
                self.steps_not_given = 0
            else:
                self.steps_not_given += 1

    class MoneyModel(mesa.Model):
        """A model with some number of agents."""

        def __init__(self, n, width, height, rng=None):
            super().__init__(rng=rng)
            self.num_agents = n
            self.grid = OrthogonalMooreGrid(
                (width, height), torus=True, capacity=10, random=self.random
            )
            # Instantiate DataCollector
            self.datacollector = mesa.DataCollector(
                model_reporters={"Gini": compute_gini},
                agent_reporters={
                    "Wealth": "wealth",
                    "Steps_not_given": "steps_not_given",
                },
            )
            self.running = True

            # Create agents
            MoneyAgent.create_agents(
                self,
                self.num_agents,
                self.random.choices(self.grid.all_cells.cells, k=self.num_agents),
            )

        def step(self):
            # Collect data each step
            self.datacollector.collect(self)
            self.agents.shuffle_do("move")
            self.agents.do("give_money")
