"""The torch half of the simulator: a tiny real model run by the simulator's own scheduler, and what checks
the simulator against it.

* ``sim.real.model``: the tiny decoder-only transformer (seeded weights, defined in the repo) whose KV
  cache serves mixed prefill + decode batches in one forward pass;
* ``sim.real.executor``: the real executor, which drives that model with the engine loop of ``sim.loop``
  and times every pass;
* ``sim.real.calibrate``: fits the ``tiny-cpu`` cost model to the model's measured passes;
* ``sim.real.validate``: ``python -m sim validate``, simulator vs real model on one workload.

Only these modules import torch, and only inside the functions that need it; importing this package (or
anything in ``sim`` outside it) never does. The rest of ``sim/`` never imports this package at module level.
"""


def have_torch() -> bool:
    """Can this machine run the real model (is torch importable)? Imports it, so call it only where the
    real run is offered."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
