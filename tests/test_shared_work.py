"""Page work that does not repeat: learners asking for the same configuration share one simulation and one
set of figures (st.cache_resource is one per server process, not one per session)."""

from __future__ import annotations

import os

from streamlit.testing.v1 import AppTest

import sim.engine
import sim.fastpath

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_two_learners_with_the_defaults_cost_one_simulation(monkeypatch):
    runs = []
    real_run, real_kernel = sim.engine.Simulation.run, sim.fastpath.simulate

    def counted(self):
        runs.append(self.cfg)
        return real_run(self)

    def counted_kernel(cfg):  # the compiled kernel's run, where it takes the config (None: it did not)
        res = real_kernel(cfg)
        if res is not None:
            runs.append(cfg)
        return res
    monkeypatch.setattr(sim.engine.Simulation, "run", counted)
    monkeypatch.setattr(sim.fastpath, "simulate", counted_kernel)
    seed = 987_654  # a configuration no other test has cached in this process
    sessions = []
    for _ in range(2):  # two sessions (two learners' browser tabs) with the same settings
        at = AppTest.from_file(os.path.join(ROOT, "pages", "playground.py"), default_timeout=180)
        at.query_params["seed"] = str(seed)
        at.run()
        assert not at.exception, at.exception
        sessions.append(at)
    assert len(runs) == 1, f"{len(runs)} simulations for two sessions asking the same config"
    assert runs[0].seed == seed
    # a learner who changes a setting gets a simulation of their own
    sessions[1].number_input(key="w_seed").set_value(seed + 1).run()
    assert len(runs) == 2 and runs[1].seed == seed + 1


def test_two_learners_with_the_same_settings_share_the_figures(monkeypatch):
    """The timeline, composition and KV figures are built once per configuration, not once per session."""
    import viz.timeline

    built = []
    for name in ("request_lanes", "batch_composition", "kv_and_queue"):
        real = getattr(viz.timeline, name)

        def counted(*a, _real=real, _name=name, **kw):
            built.append(_name)
            return _real(*a, **kw)
        monkeypatch.setattr(viz.timeline, name, counted)
    seed = 987_321  # a configuration no other test has cached in this process
    for _ in range(2):
        at = AppTest.from_file(os.path.join(ROOT, "pages", "playground.py"), default_timeout=180)
        at.query_params["seed"] = str(seed)
        at.run()
        at.run()  # what the browser's signal asks for once the timeline is drawn (common.drawn_later)
        assert not at.exception, at.exception
        assert len(at.get("plotly_chart")) == 3
    assert sorted(built) == ["batch_composition", "kv_and_queue", "request_lanes"], built
