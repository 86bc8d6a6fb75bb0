"""handmade.py's own command: `python handmade.py` draws one world of each start, and each world
begins from the start its label names (the start states themselves are specified in
tests/test_curriculum.py, beside the curriculum that draws them)."""

import imageio.v2 as imageio
import numpy as np

import handmade


def test_demo_draws_each_start_in_its_own_world(tmp_path):
    out = tmp_path / "starts.png"
    env = handmade.main(["--size", "64", "--out", str(out)])
    assert imageio.imread(out).shape[1] == 64 * len(handmade.DEMO_STARTS)  # side by side
    assert list(env.door_fort) == [True, False, False, False]        # a fort built
    assert list(env.door_cube) == [False, True, False, False]        # a fort left to finish
    assert env.cube_gap[1] == 5 * 0.2
    assert list(env.door_ramp) == [False, False, True, False]        # the ramp at the door
    assert list(env.ramp_hider) == [False, False, True, True]        # a hider beside the ramp
    np.testing.assert_allclose(env.ramp_walk[3], 2 * 0.2)            # ... two cells out
    assert env.replayed.all()
