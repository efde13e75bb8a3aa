"""Sweeps given Mesa's own experiment objects: lists of Scenario instances,
``Scenario.from_dataframe`` and ``spawn_replications`` (Mesa 4), each run
with exactly the generator its scenario holds; the exact seed of a numpy
seed sequence; refusals before any run.

Differential: every swept run equals ``Model(scenario=s)`` stepped by hand.
"""

from __future__ import annotations

import json
import pickle

import mesa
import numpy as np
import pandas as pd
import pytest

import mesa_nb
from mesa_nb.core import mesa_adapter
from mesa_nb.core.parameters import expand_parameters
from mesa_nb.core.plan import RunSettings, build_kwargs
from mesa_nb.core.scenarios import (
    check_scenario_seeding,
    exact_seed,
    scenario_seed,
    unpack_scenarios,
)

Scenario = mesa_adapter.Scenario
#: Mesa 4: scenarios hold a generator and have ids, spawn_replications and
#: from_dataframe.
MESA4_SCENARIOS = Scenario is not None and hasattr(Scenario, "spawn_replications")

needs_scenario = pytest.mark.skipif(
    Scenario is None,
    reason=f"Mesa {mesa.__version__} has no Scenario (Mesa 3.5+, Python 3.12+)",
)
needs_mesa4 = pytest.mark.skipif(
    not MESA4_SCENARIOS,
    reason=f"Mesa {mesa.__version__}'s Scenario holds no generator and has no "
    "spawn_replications / from_dataframe (Mesa 4)",
)
needs_mesa35 = pytest.mark.skipif(
    Scenario is None or MESA4_SCENARIOS,
    reason="Mesa 3.5's Scenario (rng a plain field)",
)

STEPS = 4
VOLATILE = ["wall_time", "reproducible"]  # how long, and which runs were re-run


class PondScenario(Scenario if Scenario is not None else object):
    fish: int = 3
    rate: float = 0.5


class Pond(mesa.Model):
    """Draws from both of its generators every step, and records the draws."""

    def __init__(self, scenario: PondScenario | None = None):
        super().__init__(scenario=PondScenario() if scenario is None else scenario)
        self.fish = self.scenario.fish
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Fish": "fish",
                "Draw": lambda m: m.draw,
                "Coin": lambda m: m.coin,
            }
        )
        self.draw, self.coin = float(self.rng.random()), self.random.random()
        self.datacollector.collect(self)

    def step(self):
        self.fish += int(self.rng.integers(0, 3))
        self.draw = float(self.rng.random()) * self.scenario.rate
        self.coin = self.random.random()
        self.datacollector.collect(self)


class SeededPond(Pond):
    """Takes ``rng`` beside its scenario and hands both to Mesa."""

    def __init__(self, rng=None, scenario: PondScenario | None = None):
        mesa.Model.__init__(
            self, rng=rng, scenario=PondScenario() if scenario is None else scenario
        )
        self.fish = self.scenario.fish
        self.datacollector = mesa.DataCollector(model_reporters={"Fish": "fish"})
        self.draw = self.coin = 0.0
        self.datacollector.collect(self)


def by_hand(scenario, steps=STEPS, model_cls=Pond):
    """What a Mesa user gets from ``Model(scenario=s)`` stepped ``steps`` times."""
    model = model_cls(scenario=scenario)
    for _ in range(steps):
        model.step()
    return model.datacollector.get_model_vars_dataframe().reset_index(drop=True)


def sweep(parameters, **options):
    options = {"max_steps": STEPS, "data_collection_period": 1, **options}
    return mesa_nb.sweep(Pond, parameters, **options)


def assert_runs_equal_by_hand(result, scenarios):
    assert result.n_ok == len(scenarios), result.failures
    for run_id, scenario in enumerate(scenarios):
        got = result.model[result.model["RunId"] == run_id]
        expected = by_hand(scenario)
        for column in ("Fish", "Draw", "Coin"):
            assert got[column].tolist() == expected[column].tolist(), (run_id, column)


def assert_same_tables(one, two):
    pd.testing.assert_frame_equal(
        one.runs.drop(columns=VOLATILE), two.runs.drop(columns=VOLATILE)
    )
    pd.testing.assert_frame_equal(one.model, two.model)


# -- the exact seed of a seed sequence -------------------------------------------------
SEQUENCES = [
    np.random.SeedSequence(42),
    np.random.SeedSequence(0),
    np.random.SeedSequence(2**40 + 3),
    np.random.SeedSequence(2**63),
    np.random.SeedSequence(2**130 + 7),
    np.random.SeedSequence([1, 2, 2**33]),
    np.random.SeedSequence(5, spawn_key=(3,)),
    np.random.SeedSequence(2**100, spawn_key=(2**33, 1)),
    np.random.SeedSequence(7).spawn(3)[2].spawn(2)[1],
    np.random.SeedSequence(),
]


@pytest.mark.parametrize("sequence", SEQUENCES, ids=range(len(SEQUENCES)))
def test_the_exact_seed_is_numpys_assembled_entropy(sequence):
    seed = exact_seed(sequence)
    coerce = np.random.bit_generator._coerce_to_uint32_array  # numpy's own
    words = list(coerce(sequence.entropy))
    key = list(coerce(tuple(sequence.spawn_key)))
    if key:
        words += [0] * (sequence.pool_size - len(words))
    assert list(coerce(seed)) == words + key
    again = np.random.SeedSequence(seed)
    assert again.generate_state(8).tolist() == sequence.generate_state(8).tolist()
    state = np.random.PCG64(sequence).state
    assert np.random.default_rng(seed).bit_generator.state == state
    entropy = sequence.entropy
    if not key and isinstance(entropy, int) and entropy < 2**63:
        assert seed == entropy and isinstance(seed, int)  # 42 stays 42
    else:
        assert isinstance(seed, list) and all(0 <= w < 2**32 for w in seed)
        assert json.loads(json.dumps(seed)) == seed


# -- Mesa 4: scenarios given ready-made ------------------------------------------------
@needs_mesa4
def test_a_list_of_scenarios_runs_each_with_its_own_generator():
    scenarios = [
        PondScenario(rng=1, fish=2),
        PondScenario(rng=2**70, fish=5, rate=0.25),
        PondScenario(fish=7),  # a fresh seed from the OS, recovered too
    ]
    one = sweep({"scenario": scenarios}, processes=1)
    two = sweep({"scenario": scenarios}, processes=2)
    assert_same_tables(one, two)
    assert_runs_equal_by_hand(two, scenarios)
    runs = two.runs
    # an int and a list of words in one column: all as words
    assert runs["seed"].tolist() == [
        [1],
        [0, 0, 64],
        exact_seed(scenarios[2].rng.bit_generator.seed_seq),
    ]
    assert runs["rng"].tolist() == runs["seed"].tolist()
    assert runs["fish"].tolist() == [2, 5, 7]
    assert runs["rate"].tolist() == [0.5, 0.25, 0.5]
    assert runs["scenario_id"].tolist() == [s.scenario_id for s in scenarios]
    assert runs["replication_id"].tolist() == [None, None, None]
    assert "scenario" not in runs.columns
    rebuilt = two.rebuild_model(1)
    assert type(rebuilt.scenario) is PondScenario
    assert rebuilt.scenario.scenario_id == scenarios[1].scenario_id
    assert rebuilt.scenario.initial_rng_state == scenarios[1].initial_rng_state
    assert rebuilt.fish == two.model[two.model["RunId"] == 1]["Fish"].iloc[-1]


@needs_mesa4
def test_whole_number_seeds_stay_numbers():
    scenarios = [PondScenario(rng=11, fish=1), PondScenario(rng=12, fish=2)]
    result = sweep({"scenario": scenarios}, processes=1)
    assert result.runs["seed"].tolist() == [11, 12]
    assert result.model.groupby("RunId")["Fish"].first().tolist() == [1, 2]
    assert result.runs["reproducible"].iloc[0]


@needs_mesa4
def test_from_dataframe_scenarios_keep_their_fields_ids_and_seeds():
    frame = pd.DataFrame({"fish": [1, 4], "rate": [0.2, 0.9]})
    plain = Scenario.from_dataframe(frame)  # base Scenario: fields per instance
    assert type(plain[0]) is Scenario and not Scenario._scenario_defaults
    result = sweep({"scenario": plain}, processes=2)
    assert_runs_equal_by_hand(result, plain)
    assert result.runs["fish"].tolist() == [1, 4]
    assert result.runs["rate"].tolist() == [0.2, 0.9]
    assert result.runs["scenario_id"].tolist() == [0, 1]
    assert result.runs["seed"].tolist() == [
        exact_seed(s.rng.bit_generator.seed_seq) for s in plain
    ]

    replicated = Scenario.from_dataframe(frame, rng=5, replications=3)
    result = sweep({"scenario": replicated}, processes=2)
    assert_runs_equal_by_hand(result, replicated)
    runs = result.runs
    assert runs["scenario_id"].tolist() == [0, 0, 0, 1, 1, 1]
    assert runs["replication_id"].tolist() == [0, 1, 2, 0, 1, 2]
    assert runs["fish"].tolist() == [1, 1, 1, 4, 4, 4]
    assert [seed[-1] for seed in runs["seed"]] == [0, 1, 2, 0, 1, 2]  # spawn keys
    assert len({tuple(seed) for seed in runs["seed"]}) == 3  # rng=5: rows alike
    rebuilt = result.rebuild_model(4)
    assert type(rebuilt.scenario) is Scenario
    assert (rebuilt.scenario.scenario_id, rebuilt.scenario.replication_id) == (1, 1)
    assert rebuilt.scenario.initial_rng_state == replicated[4].initial_rng_state


@needs_mesa4
def test_spawned_replications_are_the_runs_ids_and_seeds():
    base = PondScenario(rng=7, fish=4, scenario_id=12)
    replications = base.spawn_replications(3)
    result = sweep({"scenario": replications}, processes=2)
    assert_runs_equal_by_hand(result, replications)
    runs = result.runs
    assert runs["scenario_id"].tolist() == [12, 12, 12]
    assert runs["replication_id"].tolist() == [0, 1, 2]
    inner = int(base.initial_rng_state["state"]["state"])  # what Mesa spawns from
    words = [(inner >> (32 * i)) % 2**32 for i in range(4)]
    assert runs["seed"].tolist() == [[*words, k] for k in range(3)]
    for seed, replication in zip(runs["seed"], replications, strict=True):
        state = np.random.default_rng(seed).bit_generator.state
        assert state == replication.initial_rng_state


@needs_mesa4
def test_a_scenario_sweep_survives_its_store_and_resumes(tmp_path):
    store = tmp_path / "ponds"
    scenarios = [
        *PondScenario(rng=3, fish=2, scenario_id=0).spawn_replications(2),
        PondScenario(rng=9, fish=6, scenario_id=1),
    ]
    first = sweep({"scenario": scenarios}, processes=2, store=store)
    again = sweep({"scenario": scenarios}, processes=2, store=store)
    assert again.metadata["resumed_runs"] == 3
    assert_same_tables(first, again)
    # a new session: the same scenarios built again
    rebuilt = [
        *PondScenario(rng=3, fish=2, scenario_id=0).spawn_replications(2),
        PondScenario(rng=9, fish=6, scenario_id=1),
    ]
    assert sweep({"scenario": rebuilt}, store=store).metadata["resumed_runs"] == 3

    loaded = mesa_nb.load_store(store, model_cls=Pond)
    assert_same_tables(first, loaded)
    assert loaded.runs["seed"].tolist() == first.runs["seed"].tolist()
    assert isinstance(loaded.runs["seed"][0], list)
    model = loaded.rebuild_model(2)
    assert model.scenario.scenario_id == 1 and model.scenario.replication_id is None
    assert model.scenario.initial_rng_state == scenarios[2].initial_rng_state
    assert model.fish == first.model[first.model["RunId"] == 2]["Fish"].iloc[-1]
    definition = json.loads((store / "manifest.json").read_text())["definition"]
    assert [p["rng"] for p in definition["points"]] == first.runs["seed"].tolist()

    out = sweep({"scenario": scenarios}, store=tmp_path / "out", in_memory=False)
    assert out.runs["seed"].tolist() == first.runs["seed"].tolist()
    pd.testing.assert_frame_equal(out.model, first.model)

    changed = [PondScenario(rng=4, fish=2, scenario_id=0), *scenarios[1:]]
    with pytest.raises(mesa_nb.StoreError, match="differs in: point"):
        sweep({"scenario": changed}, store=store)


@needs_mesa4
def test_a_scenario_sweep_is_written_to_an_experiment_file_and_reruns(tmp_path):
    from mesa_nb.api.experiment import load_experiment
    from mesa_nb.core.spec import SweepSpec

    scenarios = [
        *PondScenario(rng=3, fish=2, scenario_id=0).spawn_replications(2),
        PondScenario(rng=9, fish=6, scenario_id=1),
        PondScenario(rng=2**70 + 1, fish=1, scenario_id=2),  # a seed of words
    ]
    first = sweep(scenarios, seed=None)
    spec = first.metadata["spec"]
    again = SweepSpec.from_dict(
        json.loads(json.dumps(spec)), model=Pond, resolve=lambda ref, what: PondScenario
    )
    rebuilt = again.parameters["scenario"]
    assert [s.initial_rng_state for s in rebuilt] == [
        s.initial_rng_state for s in scenarios
    ]
    assert [(s.scenario_id, s.replication_id) for s in rebuilt] == [
        (0, 0),
        (0, 1),
        (1, None),
        (2, None),
    ]
    path = first.save_experiment(tmp_path / "ponds.toml")
    assert "[[parameters.scenario]]" in path.read_text()
    experiment = load_experiment(path)
    rerun = sweep(experiment.spec.parameters)
    assert_same_tables(first, rerun)
    assert_runs_equal_by_hand(rerun, scenarios)


# -- never rng beside a scenario ------------------------------------------------------
@needs_scenario
def test_a_run_that_builds_a_scenario_is_never_given_rng_beside_it():
    spec = unpack_scenarios(
        expand_parameters({"scenario": [PondScenario(rng=5, fish=1)]})
    )[1]
    settings = RunSettings(SeededPond, 3, 1, None, spec, ("fish",))
    kwargs = build_kwargs(settings, {"fish": 1, "rng": 5}, 5)
    assert set(kwargs) == {"scenario"}
    assert kwargs["scenario"].fish == 1
    result = mesa_nb.sweep(
        SeededPond, {"scenario": [PondScenario(rng=5, fish=1)]}, max_steps=2
    )
    assert result.n_ok == 1, result.failures
    fields = mesa_nb.sweep(
        SeededPond,
        {"fish": [1, 2], "rng": [5, 6]},
        scenario=PondScenario,
        max_steps=2,
    )
    assert fields.n_ok == 4, fields.failures
    assert fields.rebuild_model(2).scenario.fish == 2


# -- refusals, before any run ----------------------------------------------------------
@needs_mesa4
def test_scenarios_whose_seed_is_lost_are_refused_naming_the_fix():
    used = np.random.default_rng(3)
    used.random()
    lost = [
        pickle.loads(pickle.dumps(PondScenario(rng=1))),  # a fresh seed sequence
        PondScenario(rng=used),  # started past its seed
        PondScenario(rng=np.random.Generator(np.random.MT19937(3))),
    ]
    for scenario in lost:
        with pytest.raises(
            mesa_nb.ParameterError, match=r"rng=<int>.*spawn_replications"
        ):
            sweep({"scenario": [PondScenario(rng=1), scenario]})
    fresh = PondScenario(rng=np.random.default_rng(3))  # not drawn from yet: exact
    assert scenario_seed(fresh) == 3


@needs_scenario
def test_scenarios_of_mixed_classes_are_refused():
    class OtherScenario(Scenario):
        fish: int = 1

    with pytest.raises(mesa_nb.ParameterError, match="different classes"):
        sweep({"scenario": [PondScenario(rng=1), OtherScenario(rng=2)]})


@needs_mesa4
def test_seeding_again_scenarios_that_carry_seeds_is_refused():
    scenarios = [PondScenario(rng=1, fish=2), PondScenario(rng=2, fish=3)]
    spec = unpack_scenarios(expand_parameters({"scenario": scenarios}))[1]
    assert spec.own_seeds
    with pytest.raises(mesa_nb.SweepOptionError, match=r"spawn_replications\(3\)"):
        check_scenario_seeding(spec, 3)
    with pytest.raises(mesa_nb.SweepOptionError, match="drop seed="):
        check_scenario_seeding(spec, 1, seed=4)
    check_scenario_seeding(spec, 1)
    for option in ({"seed": 4}, {"rng": [1, 2]}):
        with pytest.raises(mesa_nb.SweepOptionError):
            sweep({"scenario": scenarios}, **option)


@needs_mesa4
def test_iterations_with_scenarios_that_carry_seeds_are_refused():
    scenarios = [PondScenario(rng=1, fish=2), PondScenario(rng=2, fish=3)]
    with pytest.raises(mesa_nb.SweepOptionError, match="spawn_replications"):
        sweep({"scenario": scenarios}, iterations=2)


@needs_mesa4
def test_a_list_of_scenarios_is_parameters_itself():
    scenarios = PondScenario(rng=8, fish=3).spawn_replications(2)
    result = sweep(scenarios)
    assert result.runs["replication_id"].tolist() == [0, 1]
    assert_runs_equal_by_hand(result, scenarios)


# -- Mesa 3.5: rng is a plain field ----------------------------------------------------
@needs_mesa35
def test_mesa35_scenarios_keep_their_rng_as_given_and_have_no_ids():
    scenarios = [PondScenario(rng=1, fish=2), PondScenario(rng=2, fish=5)]
    result = sweep({"scenario": scenarios})
    assert result.runs["seed"].tolist() == [1, 2]
    assert "scenario_id" not in result.runs.columns
    assert result.rebuild_model(1).scenario.rng == 2
    unseeded = sweep({"scenario": [PondScenario(fish=2)]}, seed=3, iterations=2)
    assert unseeded.n_ok == 2 and unseeded.runs["seed"].nunique() == 2
