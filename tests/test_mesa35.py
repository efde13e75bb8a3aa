"""Models written for Mesa 3.5: Scenario parameters, DataRecorder datasets,
event time. Differential against building and running the models by hand.

Mesa 3.3 (Python 3.11) has none of these; the module is skipped there.
"""

from __future__ import annotations

import threading
import warnings

import mesa
import numpy as np
import pandas as pd
import pytest
from models import step_number

import mesa_nb
from mesa_nb.core import mesa_adapter

pytestmark = pytest.mark.skipif(
    mesa_adapter.Scenario is None,
    reason=f"Mesa {mesa.__version__} has no Scenario / DataRecorder (Mesa 3.5+, "
    "Python 3.12+)",
)

if mesa_adapter.Scenario is not None:
    from mesa.examples import (
        BoltzmannWealth,
        EpsteinCivilViolence,
        Schelling,
        WolfSheep,
    )
    from mesa.experimental.data_collection import DataRecorder, DatasetConfig
    from mesa.experimental.scenarios import Scenario


def scenario_class(model_cls):
    spec = mesa_nb.core.scenarios.scenario_spec(model_cls)
    assert spec is not None, model_cls
    return spec.cls


def by_hand(model_cls, fields, seed, steps, **kwargs):
    """Build the model as a user of Mesa 3.5 would and run it; its model vars."""
    scenario = scenario_class(model_cls)(rng=seed, **fields)
    model = model_cls(scenario=scenario, **kwargs)
    while model.running and step_number(model) < steps:
        model.step()
    return pd.DataFrame(model.datacollector.model_vars)


# -- the examples -------------------------------------------------------------
def test_boltzmann_swept_by_scenario_field_in_parallel_equals_in_process():
    kwargs = dict(iterations=2, seed=11, max_steps=20)
    two = mesa_nb.sweep(BoltzmannWealth, {"n": [20, 40]}, processes=2, **kwargs)
    one = mesa_nb.sweep(BoltzmannWealth, {"n": [20, 40]}, processes=1, **kwargs)
    assert two.n_ok == 4 and two.runs["n"].tolist() == [20, 40, 20, 40]
    agents_per_run = two.agents.groupby("RunId")["AgentID"].nunique()
    assert agents_per_run.tolist() == [20, 40, 20, 40]
    assert "Gini" in two.model.columns and "Gini" in two.model_reporters
    assert set(two.datasets) == {"model_data", "agent_data"}
    assert two.datasets["agent_data"].groupby("RunId").size().tolist() == [
        20,
        40,
        20,
        40,
    ]
    for name in ("runs", "model", "agents"):
        left, right = getattr(two, name), getattr(one, name)
        if name == "runs":
            left, right = (
                left.drop(columns="wall_time"),
                right.drop(columns="wall_time"),
            )
        pd.testing.assert_frame_equal(left, right)
    for name, frame in two.datasets.items():
        pd.testing.assert_frame_equal(frame, one.datasets[name])


@pytest.mark.parametrize(
    ("model_cls", "parameters", "steps"),
    [
        ("BoltzmannWealth", {"n": [15, 30], "width": 8}, 12),
        ("Schelling", {"density": [0.5, 0.7], "homophily": 0.5}, 6),
        ("WolfSheep", {"initial_sheep": [20, 40], "initial_wolves": 10}, 8),
        ("EpsteinCivilViolence", {"width": [15, 20], "citizen_density": 0.6}, 5),
    ],
)
def test_scenario_models_equal_the_same_runs_built_by_hand(
    model_cls, parameters, steps
):
    cls = {
        "BoltzmannWealth": BoltzmannWealth,
        "Schelling": Schelling,
        "WolfSheep": WolfSheep,
        "EpsteinCivilViolence": EpsteinCivilViolence,
    }[model_cls]
    result = mesa_nb.sweep(
        cls, parameters, seed=5, max_steps=steps, data_collection_period=1
    )
    assert result.n_ok == len(result.runs) == 2, result.failures
    keywords = {"width", "height"} if cls is EpsteinCivilViolence else set()
    for run in result.runs.itertuples():
        values = {name: getattr(run, name) for name in parameters}
        fields = {k: v for k, v in values.items() if k not in keywords}
        kwargs = {k: v for k, v in values.items() if k in keywords}
        expected = by_hand(cls, fields, run.seed, steps, **kwargs)
        got = result.model[result.model["RunId"] == run.RunId]
        reporters = list(expected.columns)
        pd.testing.assert_frame_equal(
            got[reporters].reset_index(drop=True),
            expected.reset_index(drop=True),
            check_dtype=False,
        )


def test_keyword_and_scenario_parameters_mix_in_one_sweep():
    result = mesa_nb.sweep(
        EpsteinCivilViolence,
        {"width": [20, 30], "citizen_density": [0.5, 0.7]},
        seed=3,
        max_steps=3,
        processes=2,
    )
    assert result.n_ok == 4
    assert result.runs[["width", "citizen_density"]].values.tolist() == [
        [20, 0.5],
        [20, 0.7],
        [30, 0.5],
        [30, 0.7],
    ]
    model = result.rebuild_model(3, steps=0)
    assert model.grid.width == 30 and model.scenario.citizen_density == 0.7
    seed = result.runs["seed"][3]
    if mesa_adapter.MESA_4:  # a Scenario holds a generator, made from the seed
        state = np.random.default_rng(seed).bit_generator.state
        assert model.scenario.initial_rng_state == state
    else:
        assert model.scenario.rng == seed


def test_batch_run_gives_mesa_rows_for_a_scenario_model():
    rows = mesa_nb.batch_run(
        WolfSheep, {"initial_sheep": [20, 40]}, max_steps=3, display_progress=False
    )
    assert {r["initial_sheep"] for r in rows} == {20, 40}
    assert set(rows[0]) >= {"RunId", "iteration", "Step", "Sheep", "Wolves"}
    first_step = mesa_nb.batch_run(
        WolfSheep,
        {"initial_sheep": [20, 40]},
        max_steps=0,
        display_progress=False,
    )
    assert [r["Sheep"] for r in first_step] == [20, 40]


def test_a_misspelled_field_lists_keywords_and_fields_before_any_run():
    with pytest.raises(mesa_nb.ParameterError) as info:
        mesa_nb.sweep(WolfSheep, {"initial_shep": [20, 40]})
    message = str(info.value)
    assert "Did you mean 'initial_sheep'?" in message
    assert "fields of its scenario WolfSheepScenario" in message
    assert "initial_sheep=100" in message and "grass=True" in message
    assert info.value.field == "initial_shep"
    with pytest.raises(mesa_nb.ParameterError, match="Keyword parameters: width"):
        mesa_nb.sweep(EpsteinCivilViolence, {"citizen_densty": 0.5})


# -- scenarios given as objects, or named explicitly ---------------------------------
@pytest.mark.skipif(
    mesa_adapter.MESA_4,
    reason="Mesa 4 has no Scenario without a seed (each holds a generator), so "
    "none is left for rng= to seed",
)
def test_ready_made_scenarios_are_copied_per_run_and_seeded_by_it():
    scen = scenario_class(Schelling)
    points = {"scenario": [scen(density=0.5), scen(density=0.6)]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cannot be reproduced"
        two = mesa_nb.sweep(Schelling, points, rng=[11, 22], processes=2, max_steps=4)
    one = mesa_nb.sweep(Schelling, points, rng=[11, 22], processes=1, max_steps=4)
    assert two.runs["seed"].tolist() == [11, 11, 22, 22]
    assert two.runs["density"].tolist() == [0.5, 0.6, 0.5, 0.6]
    assert "scenario" not in two.runs.columns
    pd.testing.assert_frame_equal(two.model, one.model)
    expected = by_hand(Schelling, {"density": 0.6}, 22, 4)
    got = two.model[two.model["RunId"] == 3]
    assert got["happy"].tolist() == expected["happy"].tolist()[-1:]


def test_scenarios_that_carry_their_own_rng_keep_it():
    scen = scenario_class(BoltzmannWealth)
    result = mesa_nb.sweep(
        BoltzmannWealth, {"scenario": [scen(rng=1, n=5), scen(rng=2, n=6)]}
    )
    assert result.runs["seed"].tolist() == [1, 2]
    if mesa_adapter.MESA_4:
        return  # no Scenario without a seed: each holds a generator
    with pytest.raises(mesa_nb.ParameterError, match="give every scenario an rng"):
        mesa_nb.sweep(BoltzmannWealth, {"scenario": [scen(rng=1), scen(n=6)]})


class Pond(mesa.Model):
    """Takes a scenario without saying which: only `scenario=` tells."""

    def __init__(self, scenario=None):
        super().__init__(scenario=scenario)
        self.fish = scenario.fish if scenario is not None else 0
        self.datacollector = mesa.DataCollector(
            model_reporters={"Fish": "fish", "Draw": lambda m: m.random.random()}
        )
        self.datacollector.collect(self)

    def step(self):
        self.fish += 1
        self.datacollector.collect(self)


class PondScenario(Scenario if mesa_adapter.Scenario else object):
    fish: int = 3


def test_an_explicit_scenario_class_and_the_magic_option(ipython):
    result = mesa_nb.sweep(
        Pond, {"fish": [1, 2]}, scenario=PondScenario, max_steps=2, seed=4
    )
    assert result.model.groupby("RunId")["Fish"].last().tolist() == [3, 4]
    ipython.user_ns.update(Pond=Pond, PondScenario=PondScenario)
    ipython.run_cell(
        "%%batchrun Pond --scenario PondScenario -s 2 --seed 4 -q -o pond\n"
        "fish = [1, 2]\n"
    )
    pd.testing.assert_frame_equal(ipython.user_ns["pond"].model, result.model)
    with pytest.raises(mesa_nb.ModelClassError, match="takes no `scenario`"):
        mesa_nb.sweep(Clock, {}, scenario=PondScenario)


def test_the_magic_sweeps_scenario_fields_from_the_cell(ipython):
    ipython.user_ns["WolfSheep"] = WolfSheep
    ipython.run_cell(
        "%%batchrun WolfSheep -s 3 -i 2 -p 2 --seed 9 -q -o ws\n"
        "initial_sheep = [30, 60]\nwolf_reproduce = 0.04\n"
    )
    ws = ipython.user_ns["ws"]
    assert ws.n_ok == 4 and ws.runs["initial_sheep"].tolist() == [30, 60, 30, 60]
    again = mesa_nb.sweep(
        WolfSheep,
        {"initial_sheep": [30, 60], "wolf_reproduce": 0.04},
        iterations=2,
        max_steps=3,
        seed=9,
    )
    pd.testing.assert_frame_equal(ws.model, again.model)


def test_the_form_shows_scenario_fields_and_its_code_reruns_the_sweep(ipython):
    from mesa_nb.notebook.form_state import FIXED, SWEEP, FormState

    form = FormState(WolfSheep, namespace={})
    assert "scenario" not in form.fields
    sheep = form.fields["initial_sheep"]
    assert (sheep.info.kind, sheep.info.default, sheep.mode) == ("int", 100, FIXED)
    assert form.fields["grass"].info.kind == "bool"
    sheep.mode, sheep.list_text = SWEEP, "20, 40"
    form.options.update(max_steps=2, seed="5", data_collection_period=1)
    request = form.validate().request
    assert request.n_runs == 2
    ipython.user_ns["WolfSheep"] = WolfSheep
    code = form.code("WolfSheep").replace("--out results", "--out from_form -q")
    ipython.run_cell(code)
    shown = ipython.user_ns["from_form"]
    assert shown.runs["initial_sheep"].tolist() == [20, 40]
    assert shown.model.groupby("RunId")["Sheep"].first().tolist() == [20, 40]


# -- DataRecorder datasets -----------------------------------------------------------
class Recorded(mesa.Model):
    """A DataRecorder only (no DataCollector), with its own intervals."""

    def __init__(self, n: int = 3, rng=None):
        super().__init__(rng=rng)
        self.level = 0.0
        for _ in range(n):
            agent = mesa.Agent(self)
            agent.size = 1
        self.data_registry.track_model(self, "totals", ["level"])
        self.data_registry.track_agents(self.agents, "sizes", "size")
        self.recorder = DataRecorder(self)
        self.data_registry["totals"].record(self.recorder)
        self.data_registry["sizes"].record(
            self.recorder, configuration=DatasetConfig(start_time=1, interval=2)
        )

    def step(self):
        self.level += self.random.random()
        for agent in self.agents:
            agent.size += 1


def test_datarecorder_datasets_become_tidy_tables_and_are_stored(tmp_path):
    kwargs = dict(max_steps=6, seed=2, data_collection_period=1)
    result = mesa_nb.sweep(Recorded, {"n": [2, 3]}, processes=2, **kwargs)
    assert result.n_ok == 2
    totals, sizes = result.datasets["totals"], result.datasets["sizes"]
    assert list(totals.columns) == ["RunId", "level", "time"]
    assert (
        totals.groupby("RunId")["time"].apply(list).tolist()
        == [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]] * 2
    )
    # its own interval (from 1, every 2) as recorded, and the final state
    assert sorted(set(sizes["time"])) == [1.0, 3.0, 5.0, 6.0]
    assert sizes.groupby("RunId")["unique_id"].nunique().tolist() == [2, 3]
    final = sizes[sizes["time"] == 6.0]
    assert final["size"].eq(7).all()
    # no collector: one model row per run, at its last Step
    assert result.model["Step"].tolist() == [6, 6]
    ends = mesa_nb.sweep(Recorded, {"n": [2, 3]}, max_steps=6, seed=2)
    assert ends.datasets["totals"]["time"].tolist() == [6.0, 6.0]  # period -1: last
    pd.testing.assert_frame_equal(
        ends.datasets["totals"],
        totals[totals["time"] == 6.0].reset_index(drop=True),
    )
    stored = mesa_nb.sweep(Recorded, {"n": [2, 3]}, store=tmp_path / "s", **kwargs)
    loaded = mesa_nb.load_store(tmp_path / "s")
    for name in ("totals", "sizes"):
        pd.testing.assert_frame_equal(loaded.datasets[name], stored.datasets[name])
        pd.testing.assert_frame_equal(stored.datasets[name], result.datasets[name])


# -- event time ------------------------------------------------------------------------
class Clock(mesa.Model):
    """Events at half times between the steps; collects at every step."""

    def __init__(self, rate: float = 1.0, rng=None):
        super().__init__(rng=rng)
        self.rate = rate
        self.ticks = 0
        self.datacollector = mesa.DataCollector(
            model_reporters={"Ticks": "ticks", "Noise": lambda m: m.random.random()}
        )
        self.schedule_event(self.tick, at=0.5)
        self.datacollector.collect(self)

    def tick(self):
        self.ticks += 1
        self.schedule_event(self.tick, after=self.rate)

    def step(self):
        self.datacollector.collect(self)


def test_until_runs_to_a_model_time_with_a_time_column():
    result = mesa_nb.sweep(
        Clock,
        {"rate": [0.5, 1.0]},
        until=4.5,
        seed=1,
        data_collection_period=1,
        processes=2,
    )
    assert result.n_ok == 2 and result.metadata["until"] == 4.5
    assert result.runs["steps"].tolist() == [4, 4]
    model = result.model
    assert list(model.columns[:6]) == [
        "RunId",
        "iteration",
        "rate",
        "Step",
        "Time",
        "Ticks",
    ]
    # the collector records at every step (integer times); the last slice
    # runs the events up to 4.5 (ticks at 0.5, 1.0, ..., 4.5 for rate 0.5)
    assert model[model["RunId"] == 0]["Time"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    for run_id, rate in ((0, 0.5), (1, 1.0)):
        hand = Clock(rate=rate, rng=int(result.runs["seed"][run_id]))
        hand.run_until(4.5)
        expected = pd.DataFrame(hand.datacollector.model_vars)
        got = model[model["RunId"] == run_id]
        assert got["Ticks"].tolist() == expected["Ticks"].tolist()
        assert got["Noise"].tolist() == expected["Noise"].tolist()
    assert hand.ticks == 5 and result.rebuild_model(0).ticks == 9


def test_until_is_refused_when_not_a_time():
    with pytest.raises(
        mesa_nb.SweepOptionError,
        match=r"until must be a model time \(a number\) above 0",
    ):
        mesa_nb.sweep(Clock, {}, until=0)
    with pytest.raises(mesa_nb.SweepOptionError, match="a number"):
        mesa_nb.sweep(Clock, {}, until="5")


STOP = threading.Event()


class Trigger(Clock):
    """Stops itself at step 5; with ``trigger``, sets the sweep's stop event at
    step 3 instead and would otherwise run on to its ``until``."""

    def __init__(self, trigger: bool = False, rng=None):
        super().__init__(rng=rng)
        self.trigger = trigger

    def step(self):
        super().step()
        if self.trigger and step_number(self) == 3:
            STOP.set()
        if not self.trigger and step_number(self) == 5:
            self.running = False


def test_a_stop_between_time_slices_keeps_finished_runs():
    STOP.clear()
    result = mesa_nb.sweep(
        Trigger, {"trigger": [False, True, False]}, until=1e6, seed=1, cancel=STOP
    )
    assert result.interrupted
    assert result.runs["status"].tolist() == ["ok", "cancelled", "cancelled"]
    assert set(result.model["RunId"]) == {0}
    assert result.model["Step"].max() == 5


def test_a_scenario_sweep_resumes_from_its_store_and_rebuilds(tmp_path):
    store = tmp_path / "wolves"
    parameters = {"initial_sheep": [20, 40], "grass_regrowth_time": 20}
    first = mesa_nb.sweep(WolfSheep, parameters, max_steps=3, seed=8, store=store)
    again = mesa_nb.sweep(WolfSheep, parameters, max_steps=3, seed=8, store=store)
    assert again.metadata["resumed_runs"] == 2
    pd.testing.assert_frame_equal(again.model, first.model)
    loaded = mesa_nb.load_store(store, model_cls=WolfSheep)
    assert loaded.metadata["scenario"].endswith("WolfSheepScenario")
    rebuilt = loaded.rebuild_model(1)
    assert rebuilt.scenario.initial_sheep == 40 and step_number(rebuilt) == 3
    final = first.model.groupby("RunId")["Sheep"].last()
    assert rebuilt.datacollector.model_vars["Sheep"][-1] == final[1]
    changed = {**parameters, "initial_sheep": [20, 50]}
    with pytest.raises(
        mesa_nb.StoreError, match=r"differs in: points \(the store holds"
    ):
        mesa_nb.sweep(WolfSheep, changed, max_steps=3, seed=8, store=store)


# -- the ten models bundled with Mesa 3.5 ------------------------------------------
BUNDLED = {
    "BoidFlockers": ({"population_size": [20, 40]}, "collects no data"),
    "BoltzmannWealth": ({"n": [20, 40]}, None),
    "ConwaysGameOfLife": ({"initial_fraction_alive": [0.2, 0.4]}, "collects no data"),
    "Schelling": ({"density": [0.6, 0.8]}, None),
    "VirusOnNetwork": ({"num_nodes": [10, 20]}, "unseeded graph"),
    "EpsteinCivilViolence": ({"width": [20, 30], "citizen_density": 0.6}, None),
    "MultiLevelAllianceModel": ({"n": [20, 30]}, None),
    "PdGrid": ({"width": [10, 20], "height": 10}, None),
    "SugarscapeG1mt": ({"initial_population": [50, 100]}, None),
    "WolfSheep": ({"initial_sheep": [20, 40]}, None),
}


@pytest.mark.parametrize("name", list(BUNDLED))
def test_every_bundled_model_is_swept_or_refused_with_the_reason(name):
    import mesa.examples

    cls = getattr(mesa.examples, name)
    parameters, caveat = BUNDLED[name]
    kwargs = dict(max_steps=3, seed=1, data_collection_period=1)
    if caveat == "collects no data":
        with pytest.raises(mesa_nb.ModelClassError, match="no `datacollector` \\(nor"):
            mesa_nb.sweep(cls, parameters, **kwargs)
        return
    two = mesa_nb.sweep(cls, parameters, processes=2, **kwargs)
    assert two.n_ok == len(two.runs) == 2, two.failures
    swept = next(k for k, v in parameters.items() if isinstance(v, list))
    assert two.runs[swept].tolist() == parameters[swept]
    if caveat is None:  # reproducible: the same at 1 and 2 processes
        one = mesa_nb.sweep(cls, parameters, processes=1, **kwargs)
        pd.testing.assert_frame_equal(two.model, one.model)
        pd.testing.assert_frame_equal(two.agents, one.agents)
