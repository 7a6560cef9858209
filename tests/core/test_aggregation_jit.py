"""The compiled (numba) aggregation kernels against the pure-numpy path they replace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.flexoffer import (
    Aggregate,
    AggregationParams,
    EnergyBounds,
    FlexOffer,
    FlexOfferBatch,
    Profile,
    aggregate,
    kernels,
)
from core.flexoffer.kernels import jit_enabled
from tests.core.strategies import flex_offers, offer_lists
from tests.core.test_aggregation import params_strategy

pytestmark = pytest.mark.skipif(not jit_enabled(), reason="numba missing or FLEXHUB_NO_JIT set")


@contextmanager
def numpy_only() -> Iterator[None]:
    """Force the pure-numpy path (the switch is read on every call, so this is enough)."""
    before = os.environ.get("FLEXHUB_NO_JIT")
    os.environ["FLEXHUB_NO_JIT"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["FLEXHUB_NO_JIT"]
        else:
            os.environ["FLEXHUB_NO_JIT"] = before


@st.composite
def fleets(draw: st.DrawFn) -> list[FlexOffer]:
    """Random offers plus, in a zone of their own, a fleet: scaled copies of one offer.

    Scales are powers of two, so a copy's sums and fractions are exact multiples and
    both paths see the same fleet (with other scales, rounding decides at the edge).

    A fleet's copies (totals scaled alike) make bins of one shape, which keep their
    members' boxes: the case the compiled pass decides on its own. Sometimes one copy
    is slightly off-shape (the bin must then be summed per member), and sometimes a
    fixed offer (no width) joins, which fits any bin.
    """
    offers = draw(offer_lists(max_size=6, tariffs=False, baseline=None))
    base = draw(flex_offers("fleet", zones=("fleet",), min_slices=2, total_energy=True, tariffs=False, baseline=False))
    fleet = [base]
    p, t = base.profile, base.total_energy
    assert t is not None
    for k, scale in enumerate(draw(st.lists(st.sampled_from([0.5, 2.0, 4.0]), min_size=1, max_size=4))):
        fleet.append(base.model_copy(update={
            "id": f"fleet-{k}",
            "profile": Profile(energy_lower=[v * scale for v in p.energy_lower],
                               energy_upper=[v * scale for v in p.energy_upper]),
            "total_energy": EnergyBounds(lower=t.lower * scale, upper=t.upper * scale),
        }))
    if draw(st.booleans()):
        upper = list(p.energy_upper)
        upper[0] += 0.5  # one slice wider: no longer the same shape
        fleet.append(base.model_copy(update={"id": "fleet-off", "profile": Profile(
            energy_lower=p.energy_lower, energy_upper=upper)}))
    if draw(st.booleans()):
        fleet.append(base.model_copy(update={"id": "fleet-fixed", "total_energy": None, "profile": Profile(
            energy_lower=p.energy_lower, energy_upper=p.energy_lower)}))
    return offers + fleet


def assert_same_aggregates(fast: list[Aggregate], slow: list[Aggregate]) -> None:
    assert [a.members for a in fast] == [a.members for a in slow]
    for x, y in zip(fast, slow, strict=True):
        a, b = x.offer, y.offer
        assert (a.id, a.earliest_start, a.latest_start, a.zone, a.accept_before) == (
            b.id, b.earliest_start, b.latest_start, b.zone, b.accept_before
        )
        np.testing.assert_allclose(a.profile.energy_lower, b.profile.energy_lower, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a.profile.energy_upper, b.profile.energy_upper, rtol=0, atol=1e-9)
        assert a.total_energy is not None and b.total_energy is not None
        assert (a.total_energy.lower, a.total_energy.upper) == pytest.approx(
            (b.total_energy.lower, b.total_energy.upper), abs=1e-9
        )
        assert (a.default_schedule is None) == (b.default_schedule is None)
        if a.default_schedule is not None and b.default_schedule is not None:
            np.testing.assert_allclose(a.default_schedule.energy, b.default_schedule.energy, rtol=0, atol=1e-9)
        if x.single is None:  # the member boxes disaggregation will split into
            for u, v in zip(x.member_bounds(), y.member_bounds(), strict=True):
                np.testing.assert_allclose(u, v, rtol=0, atol=1e-9)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=fleets(), params=params_strategy)
def test_compiled_and_numpy_paths_give_the_same_aggregates(offers: list[FlexOffer], params: AggregationParams) -> None:
    fast = aggregate(offers, params)
    with numpy_only():
        slow = aggregate(offers, params)
    assert_same_aggregates(fast, slow)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=8, tariffs=None, baseline=None), params=params_strategy)
def test_paths_agree_with_tariffs_and_baselines(offers: list[FlexOffer], params: AggregationParams) -> None:
    fast = aggregate(offers, params)
    with numpy_only():
        slow = aggregate(offers, params)
    assert_same_aggregates(fast, slow)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(offers=fleets(), params=params_strategy)
def test_two_threads_give_bit_identical_aggregates(
    offers: list[FlexOffer], params: AggregationParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large batches run the fused pass's two row halves on two threads; forcing that
    on small batches must change nothing, not even the rounding."""
    from core.flexoffer import aggregation

    with monkeypatch.context() as patch:
        patch.setattr(aggregation, "_PARALLEL_MIN_ROWS", 10**12)
        one = aggregate(offers, params)
    with monkeypatch.context() as patch:
        patch.setattr(aggregation, "_PARALLEL_MIN_ROWS", 0)
        patch.setattr(aggregation.os, "cpu_count", lambda: 2)
        two = aggregate(offers, params)
    assert [a.members for a in one] == [a.members for a in two]
    assert [a.offer.model_dump() for a in one] == [a.offer.model_dump() for a in two]


def test_both_paths_refuse_the_same_bad_rows() -> None:
    batch = FlexOfferBatch.from_arrays(
        ids=["ok", "nan", "crossed"],
        lower=np.array([[0.0, 0.0], [np.nan, 0.0], [2.0, 0.0]]),
        upper=np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
        earliest=np.zeros(3, dtype=np.int64),
        latest=np.zeros(3, dtype=np.int64),
    )
    params = AggregationParams(by_direction=True)
    with pytest.raises(ValueError, match="2 offers admit no schedule") as compiled:
        aggregate(batch, params)
    with numpy_only(), pytest.raises(ValueError, match="2 offers admit no schedule") as plain:
        aggregate(batch, params)
    assert str(compiled.value) == str(plain.value)


def test_both_paths_refuse_rows_by_totals_and_start_window() -> None:
    """The fused pass checks totals and start windows itself; the message stays the numpy path's."""
    batch = FlexOfferBatch.from_arrays(
        ids=["ok", "totals", "window", "ok2"],
        lower=np.zeros((4, 2)),
        upper=np.ones((4, 2)),
        earliest=np.array([0, 0, 5, 0], dtype=np.int64),
        latest=np.array([0, 0, 4, 0], dtype=np.int64),
        total_lower=np.array([np.nan, 3.0, np.nan, 0.5]),
        total_upper=np.array([np.nan, 4.0, np.nan, 1.5]),
    )
    for params in (AggregationParams(), AggregationParams(totals="sum")):
        with pytest.raises(ValueError, match="2 offers admit no schedule") as compiled:
            aggregate(batch, params)
        with numpy_only(), pytest.raises(ValueError, match="2 offers admit no schedule") as plain:
            aggregate(batch, params)
        assert str(compiled.value) == str(plain.value)
        assert "totals" in str(compiled.value) and "window" in str(compiled.value)


_CACHE_PROBE = """
import sys, warnings
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("error")  # a failed cache must not even warn
import numpy as np
import kernels
kernels.warm_up()
direction = np.empty(2, dtype=np.int64)
fixed = np.empty(2, dtype=bool)
kernels.direction_kernel(np.array([[0.0, 1.0], [-1.0, 0.0]]), np.array([[1.0, 2.0], [-1.0, 0.0]]), direction, fixed)
assert direction.tolist() == [0, 1] and fixed.tolist() == [False, True], (direction, fixed)
print(sum(len(k.stats.cache_hits) for k in (kernels.fused_sums_kernel, kernels.direction_kernel)))
"""


def _probe_kernels(module_dir: Path, env: dict[str, str]) -> int:
    """Import a copy of ``kernels.py`` in a fresh process, compile, run; return its cache hits."""
    done = subprocess.run([sys.executable, "-c", _CACHE_PROBE, str(module_dir)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_a_new_process_loads_the_compiled_kernels_from_the_disk_cache(tmp_path: Path) -> None:
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    shutil.copy(kernels.__file__, module_dir / "kernels.py")
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    assert _probe_kernels(module_dir, env) == 0  # the first process compiles ...
    assert _probe_kernels(module_dir, env) == 2  # ... the next one loads both kernels' machine code


def test_kernels_work_without_any_writable_cache_location(tmp_path: Path) -> None:
    """Read-only package dir and no usable cache dir: numba compiles in memory, no error."""
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    shutil.copy(kernels.__file__, module_dir / "kernels.py")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    module_dir.chmod(0o555)  # (root ignores this; the cache dir below is unusable for anyone)
    try:
        hits = _probe_kernels(module_dir, {"NUMBA_CACHE_DIR": str(blocker / "cache"), "HOME": str(blocker)})
    finally:
        module_dir.chmod(0o755)
    assert hits == 0
