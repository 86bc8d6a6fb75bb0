"""Specifications of physics.py, each checked against an independent reference: a brute-force ray
march, closed-form motion, conservation of momentum, or plain geometry written here in numpy.

The numba kernels compile once (cache=True writes them to __pycache__); every test reuses them.
"""

import math

import numba
import numpy as np
import pytest

import physics as ph
from physics import AGENT, BOX, HIDERS, RAMP, SEEKERS

CUBE, LONG, RAMP_HALF = (0.25, 0.25), (0.825, 0.075), (0.25, 0.25)
IDLE = (5, 5, 5, 0, 0)  # zero force, zero torque, no grab, no lock


# ---------------------------------------------------------------------------------------------
# Scene building and plain-numpy references
# ---------------------------------------------------------------------------------------------


def scene(agents=(), objects=(), walls=(), n_bodies=None, n_walls=None):
    """One world. agents: (x, y, angle, team[, z]); objects: (kind, x, y, angle, half);
    walls: (x0, y0, x1, y1, height)."""
    A = max(len(agents), 1)
    B = n_bodies or A + max(len(objects), 1)
    world = ph.make_world(1, B, A, n_walls or max(len(walls), 1))
    for slot, (x, y, angle, team, *z) in enumerate(agents):
        ph.place_agent(world, 0, slot, x, y, angle, team)
        world.z[0, slot] = z[0] if z else 0.0
    for k, (kind, x, y, angle, half) in enumerate(objects):
        ph.place_object(world, 0, A + k, kind, x, y, angle, half)
    for m, (x0, y0, x1, y1, height) in enumerate(walls):
        ph.place_wall(world, 0, m, x0, y0, x1, y1, height)
    return world


def run(world, actions, steps, physics=ph.Physics(), can_see=None):
    """Step `steps` times with fixed actions [A, 5] (or a function of t); returns the history of
    positions [steps, B, 2]."""
    W, B = world.kind.shape
    A = world.holding.shape[1]
    sight = np.ones((W, A, B), bool) if can_see is None else can_see
    history = []
    for t in range(steps):
        act = actions(t) if callable(actions) else actions
        ph.step(world, np.broadcast_to(np.asarray(act, np.int64), (W, A, 5)).copy(), sight, physics)
        history.append(world.pos[0].copy())
    return np.array(history)


def inside_solid(world, x, y, h, skip=()):
    """Brute force: is the point (x, y) at height h inside any body or wall of world 0?"""
    s = world
    for b in range(s.kind.shape[1]):
        if b in skip or s.kind[0, b] == ph.EMPTY:
            continue
        if s.kind[0, b] == AGENT:
            r = s.half[0, b, 0]
            if (x - s.pos[0, b, 0]) ** 2 + (y - s.pos[0, b, 1]) ** 2 + (h - s.z[0, b] - r) ** 2 < r * r:
                return True
            continue
        c, sn = math.cos(s.angle[0, b]), math.sin(s.angle[0, b])
        dx, dy = x - s.pos[0, b, 0], y - s.pos[0, b, 1]
        lx, ly = c * dx + sn * dy, -sn * dx + c * dy
        hx, hy = s.half[0, b]
        if abs(lx) < hx and abs(ly) < hy:
            top = 0.5 * (lx + hx) / (2 * hx) if s.kind[0, b] == RAMP else 0.5
            if h < top:
                return True
    for m in range(s.walls.shape[1]):
        if s.wall_height[0, m] <= 0:
            continue
        cx, cy, hx, hy, angle = s.walls[0, m]
        c, sn = math.cos(angle), math.sin(angle)
        lx, ly = c * (x - cx) + sn * (y - cy), -sn * (x - cx) + c * (y - cy)
        if abs(lx) < hx and abs(ly) < hy and h < s.wall_height[0, m]:
            return True
    return False


def march(world, ox, oy, oz, dx, dy, slope, t_max, skip=(), dt=1e-3):
    """Brute force ray: the first sample along the ray that lies inside a solid, or inf."""
    for t in np.arange(0.0, t_max, dt):
        if inside_solid(world, ox + t * dx, oy + t * dy, oz + t * slope, skip):
            return t
    return math.inf


def cast(world, ox, oy, oz, dx, dy, slope, t_max, skip_a=-1, skip_b=-1):
    table = ph.load_world(world, 0, ph.Physics())
    return ph.cast_ray(table, ox, oy, oz, dx, dy, slope, t_max, skip_a, skip_b)


# ---------------------------------------------------------------------------------------------
# Ray casting
# ---------------------------------------------------------------------------------------------


def random_scene(kind, rng):
    """A scene of one primitive type at random poses (plus one agent slot, never hit)."""
    objects, walls, agents = [], [], [(-5.0, -5.0, 0.0, HIDERS)]
    for _ in range(4):
        x, y, angle = rng.uniform(0.5, 3.5), rng.uniform(0.5, 3.5), rng.uniform(-np.pi, np.pi)
        if kind == "ball":
            agents.append((x, y, angle, SEEKERS, rng.uniform(0.0, 0.5)))
        elif kind == "box":
            objects.append((BOX, x, y, angle, CUBE if rng.random() < 0.5 else LONG))
        elif kind == "ramp":
            objects.append((RAMP, x, y, angle, RAMP_HALF))
        else:
            x1, y1 = x + rng.uniform(-2, 2), y + rng.uniform(-2, 2)
            walls.append((x, y, x1, y1, rng.choice([0.5, 4.0])))
    return scene(agents, objects, walls)


@pytest.mark.parametrize("kind", ["ball", "box", "ramp", "wall"])
def test_ray_hits_match_brute_force_march(kind):
    rng = np.random.default_rng({"ball": 1, "box": 2, "ramp": 3, "wall": 4}[kind])
    for _ in range(3):
        world = random_scene(kind, rng)
        for _ in range(40):
            ox, oy = rng.uniform(0, 4, size=2)
            oz = rng.uniform(0.05, 0.8)
            angle = rng.uniform(-np.pi, np.pi)
            dx, dy, slope = math.cos(angle), math.sin(angle), rng.uniform(-0.3, 0.3)
            if inside_solid(world, ox, oy, oz, skip=(0,)):
                continue  # the caster reports 0 there; the march agrees trivially
            t, _ = cast(world, ox, oy, oz, dx, dy, slope, 5.0, skip_a=0)
            expected = march(world, ox, oy, oz, dx, dy, slope, 5.0, skip=(0,))
            if math.isinf(expected):
                assert t == 5.0 or t > 5.0 - 2e-3, (kind, t)
            else:
                assert abs(t - expected) < 2e-3, (kind, t, expected)


def test_ray_grazing_a_box_corner_hits_on_the_inside_and_misses_outside():
    world = scene(objects=[(BOX, 2.0, 2.0, 0.0, CUBE)])  # spans [1.75, 2.25]^2
    for eps, hits in [(1e-6, True), (-1e-6, False)]:
        y = 2.25 - eps  # just inside / outside the top edge, parallel to it
        t, row = cast(world, 0.0, y, 0.25, 1.0, 0.0, 0.0, 5.0)
        assert (row >= 0) == hits
        if hits:
            assert t == pytest.approx(1.75, abs=1e-9)
    # diagonal through the corner (2.25, 2.25), from (3.25, 3.25) toward (1.25, 1.25)
    d = 1 / math.sqrt(2)
    t, row = cast(world, 3.25, 3.25, 0.25, -d, -d, 0.0, 5.0)
    assert row >= 0 and t == pytest.approx(math.sqrt(2), abs=1e-9)


def test_ray_from_inside_a_ramp_footprint_hits_where_the_slope_rises_to_it():
    world = scene(objects=[(RAMP, 2.0, 2.0, 0.0, RAMP_HALF)])  # rises along +x from x = 1.75
    # eye at x = 1.8, height 0.2: the surface reaches 0.2 at local x = -0.05, i.e. x = 1.95
    t, row = cast(world, 1.8, 2.0, 0.2, 1.0, 0.0, 0.0, 5.0)
    assert row >= 0 and t == pytest.approx(0.15, abs=1e-9)
    t, row = cast(world, 1.8, 2.0, 0.2, -1.0, 0.0, 0.0, 5.0)  # downhill: nothing in the way
    assert row == -1


def test_lidar_equals_one_ray_cast_per_direction():
    rng = np.random.default_rng(7)
    world = ph.quadrant_like_worlds(8, seed=3)
    lidar, _ = ph.sense(world)
    for w in range(8):
        table = ph.load_world(world, w, ph.Physics())
        for a in range(4):
            x, y, z = world.pos[w, a, 0], world.pos[w, a, 1], world.z[w, a] + 0.15
            for k in rng.choice(30, 8, replace=False):
                angle = 2 * math.pi * k / 30
                t, _ = ph.cast_ray(table, x, y, z, math.cos(angle), math.sin(angle), 0.0, 6.0, a, -1)
                assert lidar[w, a, k] == pytest.approx(t, abs=1e-12)


def test_inner_wall_blocks_sight_from_the_floor_but_not_from_a_box_top():
    walls = [(3.0, 0.0, 3.0, 6.0, 0.5)]
    floor = scene([(2.0, 3.0, 0.0, SEEKERS), (5.0, 3.0, 0.0, HIDERS)], walls=walls)
    _, sight = ph.sense(floor)
    assert not sight[0, 0, 1]
    # the seeker's eye at 0.65 m, the hider's centre at 0.15 m, 5 m apart: the line drops 0.1 m
    # per metre, so it passes the wall (1 m on) at 0.55 m, over its 0.5 m top
    raised = scene([(2.0, 3.0, 0.0, SEEKERS, 0.5), (7.0, 3.0, 0.0, HIDERS)], walls=walls)
    _, sight = ph.sense(raised)
    assert sight[0, 0, 1]


def test_outer_wall_blocks_sight_even_from_a_box_top():
    world = scene([(2.0, 3.0, 0.0, SEEKERS, 0.5), (7.0, 3.0, 0.0, HIDERS)],
                  walls=[(3.0, 0.0, 3.0, 6.0, ph.OUTER_WALL_HEIGHT)])
    assert not ph.sense(world)[1][0, 0, 1]


# ---------------------------------------------------------------------------------------------
# Contacts and dynamics
# ---------------------------------------------------------------------------------------------


def box_corners(x, y, angle, hx, hy):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([(x + c * u - s * v, y + s * u + c * v) for u, v in
                     [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]])


def box_overlap(p, q):
    """Penetration depth of two convex polygons by the separating axis theorem (numpy)."""
    depth = math.inf
    for poly in (p, q):
        for k in range(4):
            edge = poly[(k + 1) % 4] - poly[k]
            axis = np.array([-edge[1], edge[0]]) / np.linalg.norm(edge)
            pa, qa = p @ axis, q @ axis
            depth = min(depth, min(pa.max(), qa.max()) - max(pa.min(), qa.min()))
    return max(depth, 0.0)


def ball_overlap(cx, cy, r, poly):
    """How deep a disc reaches into a convex polygon (numpy): r minus the distance to it."""
    inside = all(_cross(poly[(k + 1) % 4] - poly[k], np.subtract((cx, cy), poly[k])) > 0
                 for k in range(4))
    dist = min(_segment_distance((cx, cy), poly[k], poly[(k + 1) % 4]) for k in range(4))
    return r + dist if inside else max(0.0, r - dist)


def _cross(u, v):
    return u[0] * v[1] - u[1] * v[0]


def _segment_distance(p, a, b):
    p, a, b = map(np.asarray, (p, a, b))
    f = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return float(np.linalg.norm(p - (a + f * (b - a))))


def deepest_overlap(world, w):
    s, shapes = world, []
    for b in range(s.kind.shape[1]):
        if s.kind[w, b] == AGENT:
            shapes.append(("ball", s.pos[w, b], s.half[w, b, 0]))
        elif s.kind[w, b] != ph.EMPTY:
            shapes.append(("box", box_corners(*s.pos[w, b], s.angle[w, b], *s.half[w, b]), None))
    for m in np.nonzero(s.wall_height[w] > 0)[0]:
        cx, cy, hx, hy, angle = s.walls[w, m]
        shapes.append(("box", box_corners(cx, cy, angle, hx, hy), "wall"))
    deepest = 0.0
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            (ki, gi, ri), (kj, gj, rj) = shapes[i], shapes[j]
            if ki == "ball" and kj == "ball":
                d = ri + rj - np.linalg.norm(gi - gj)
            elif ki == "ball" or kj == "ball":
                (c, r), poly = ((gi, ri), gj) if ki == "ball" else ((gj, rj), gi)
                d = ball_overlap(c[0], c[1], r, poly)
            elif ri == "wall" and rj == "wall":
                continue
            else:
                d = box_overlap(gi, gj)
            deepest = max(deepest, d)
    return deepest


def test_random_high_speed_collisions_leave_no_deep_overlap():
    """Agents at full force in random directions among cubes, long boxes and walls (no ramps, so
    everyone stays on the floor and every pair must stay apart)."""
    rng = np.random.default_rng(11)
    world = ph.quadrant_like_worlds(6, seed=5)  # quadrant walls, agents and cubes apart
    for w in range(6):  # the ramp becomes a long box along y, in the otherwise empty column x < 1
        spots = rng.permutation([(x, y) for x in np.arange(1.5, 6, 1.0) for y in np.arange(0.5, 6, 1.0)])
        world.pos[w, :6] = spots[:6]
        ph.place_object(world, w, 6, BOX, 0.5, 4.0, np.pi / 2, LONG)
    assert max(deepest_overlap(world, w) for w in range(6)) == 0.0
    for t in range(60):
        actions = rng.choice([0, 5, 10], size=(6, 4, 5))
        actions[..., 3:] = 0
        _, sight = ph.sense(world)
        ph.step(world, actions, sight)
        if t % 5 == 4:
            assert max(deepest_overlap(world, w) for w in range(6)) < 0.03


def test_momentum_is_conserved_in_a_free_two_ball_collision():
    frictionless = ph.Physics(agent_damping=0.0, floor_friction=0.0)
    world = scene([(1.0, 1.0, 0.0, HIDERS), (2.0, 1.1, 0.0, SEEKERS)])
    world.vel[0, :2] = [(4.0, 0.5), (-2.0, 0.0)]
    before = world.vel[0].sum(axis=0).copy()
    run(world, [IDLE, IDLE], 10, frictionless)
    assert np.allclose(world.vel[0].sum(axis=0), before, atol=1e-9)
    assert not np.allclose(world.vel[0, 0], (4.0, 0.5))  # they did collide


def test_momentum_is_conserved_when_two_boxes_collide():
    frictionless = ph.Physics(box_damping=0.0, floor_friction=0.0)
    world = scene([(5.0, 5.0, 0.0, HIDERS)],
                  [(BOX, 1.0, 1.0, 0.3, CUBE), (BOX, 2.5, 1.2, -0.2, LONG)], n_bodies=3)
    world.vel[0, 1] = (5.0, 0.0)
    world.spin[0, 1] = 1.0
    before = world.vel[0, 1:].sum(axis=0).copy()
    run(world, [IDLE], 10, frictionless)
    assert np.allclose(world.vel[0, 1:].sum(axis=0), before, atol=1e-9)
    assert world.vel[0, 2, 0] > 0.5  # the long box was struck


def test_agent_top_speed_is_about_0_6_m_per_control_step():
    """Terminal speed (F - mu m g) / c = (90 - 0.2 * 50) / 10 = 8 m/s, 0.6 m per 0.075 s."""
    world = scene([(0.0, 0.0, 0.0, HIDERS)])
    history = run(world, [(10, 5, 5, 0, 0)], 30)
    assert history[-1, 0, 0] - history[-2, 0, 0] == pytest.approx(0.6, rel=0.02)


def test_long_box_pushed_off_centre_turns_and_pushed_at_centre_does_not():
    turns = []
    for offset in (-0.4, 0.0):
        world = scene([(1.0, 3.0 + offset, 0.0, HIDERS)], [(BOX, 1.5, 3.0, math.pi / 2, LONG)])
        run(world, [(8, 5, 5, 0, 0)], 15)
        turns.append(world.angle[0, 1] - math.pi / 2)
    assert turns[0] > 0.2  # pushed +x below its centre: counter-clockwise
    assert abs(turns[1]) < 0.02


def test_nothing_tunnels_through_a_thin_wall_at_top_speed():
    wall = [(2.0, -3.0, 2.0, 3.0, 4.0)]
    runner = scene([(0.5, 0.0, 0.0, HIDERS)], walls=wall)
    runner.vel[0, 0] = (8.0, 0.0)
    history = run(runner, [(10, 5, 5, 0, 0)], 20)
    assert history[:, 0, 0].max() < 2.0 - 0.05
    thrown = scene([(-5.0, -5.0, 0.0, HIDERS)], [(BOX, 1.0, 0.0, 1.2, LONG)], walls=wall)
    thrown.vel[0, 1] = (30.0, 0.0)  # far faster than anything in the game
    history = run(thrown, [IDLE], 10)
    assert history[:, 1, 0].max() < 2.0


# ---------------------------------------------------------------------------------------------
# Grab and lock
# ---------------------------------------------------------------------------------------------


def test_locked_box_does_not_move_when_two_agents_push_it():
    world = scene([(1.55, 2.0, 0.0, SEEKERS), (2.0, 1.55, 0.0, SEEKERS)], [(BOX, 2.0, 2.0, 0.0, CUBE)])
    world.locked_by[0, 2] = HIDERS
    run(world, [(10, 5, 5, 0, 0), (5, 10, 5, 0, 0)], 20)
    assert np.array_equal(world.pos[0, 2], (2.0, 2.0)) and world.angle[0, 2] == 0.0


def test_only_the_locking_team_unlocks():
    world = scene([(1.6, 2.0, 0.0, SEEKERS), (5.0, 5.0, 0.0, HIDERS)], [(BOX, 2.0, 2.0, 0.0, CUBE)])
    world.locked_by[0, 2] = HIDERS
    run(world, [IDLE, IDLE], 3)  # the seeker stands in reach, sees it, does not press lock
    assert world.locked_by[0, 2] == HIDERS
    world.pos[0, 1] = (2.0, 2.4)  # now a hider stands in reach without pressing lock
    run(world, [IDLE, IDLE], 1)
    assert world.locked_by[0, 2] == ph.NO_TEAM


def test_lock_needs_reach_and_sight():
    world = scene([(1.6, 2.0, 0.0, HIDERS)], [(BOX, 2.0, 2.0, 0.0, CUBE), (BOX, 4.0, 2.0, 0.0, CUBE)])
    press = [(5, 5, 5, 0, 1)]
    unseen = np.ones((1, 1, 3), bool)
    unseen[0, 0, 1] = False
    run(world, press, 1, can_see=unseen)
    assert world.locked_by[0, 1] == ph.NO_TEAM  # in reach but not seen
    run(world, press, 1)
    assert world.locked_by[0, 1] == HIDERS and world.locked_by[0, 2] == ph.NO_TEAM  # 2: too far


def test_grab_takes_the_nearest_seen_object_in_reach():
    world = scene([(2.0, 2.0, 0.0, HIDERS)],
                  [(BOX, 2.45, 2.0, 0.0, CUBE), (BOX, 2.0, 1.5, 0.0, CUBE), (BOX, 2.0, 3.0, 0.0, CUBE)])
    # distances to the surfaces: 0.2, 0.25, 0.75 (out of reach)
    run(world, [(5, 5, 5, 1, 0)], 1)
    assert world.holding[0, 0] == 1
    world2 = scene([(2.0, 2.0, 0.0, HIDERS)], [(BOX, 2.45, 2.0, 0.0, CUBE), (BOX, 2.0, 1.5, 0.0, CUBE)])
    unseen = np.ones((1, 1, 3), bool)
    unseen[0, 0, 1] = False
    run(world2, [(5, 5, 5, 1, 0)], 1, can_see=unseen)
    assert world2.holding[0, 0] == 2


def test_held_box_follows_its_holder_pose():
    world = scene([(2.0, 2.0, 0.3, HIDERS)], [(BOX, 2.45, 2.2, 0.3, CUBE)])
    run(world, [(5, 5, 5, 1, 0)], 1)
    assert world.holding[0, 0] == 1
    offset = world.hold_offset[0, 0].copy()
    actions = lambda t: (8, 7, 8 if t < 10 else 2, 1, 0)  # drive and turn one way, then back
    run(world, actions, 20)
    c, s = math.cos(world.angle[0, 0]), math.sin(world.angle[0, 0])
    d = world.pos[0, 1] - world.pos[0, 0]
    assert np.allclose((c * d[0] + s * d[1], -s * d[0] + c * d[1]), offset, atol=0.02)
    assert abs(world.angle[0, 1] - world.angle[0, 0] - world.hold_angle[0, 0]) < 0.02
    assert abs(world.angle[0, 0] - 0.3) > 0.1  # it did turn


# ---------------------------------------------------------------------------------------------
# Height
# ---------------------------------------------------------------------------------------------


def ramp_world(wall_height):
    return scene([(2.5, 3.0, 0.0, SEEKERS)], [(RAMP, 3.7, 3.0, 0.0, RAMP_HALF)],
                 walls=[(4.0, 0.0, 4.0, 6.0, wall_height)])


def test_agent_runs_up_a_ramp_over_an_inner_wall_and_lands_beyond():
    world = ramp_world(0.5)
    heights = []
    for _ in range(20):
        run(world, [(9, 5, 5, 0, 0)], 1)
        heights.append(world.z[0, 0])
    assert max(heights) > 0.4  # up the ramp (it rises to 0.5 against the wall)
    assert world.pos[0, 0, 0] > 4.2 and world.z[0, 0] == 0.0  # landed on the far side


def test_agent_never_crosses_the_outer_wall_from_a_ramp():
    world = ramp_world(ph.OUTER_WALL_HEIGHT)
    history = run(world, [(9, 5, 5, 0, 0)], 20)
    assert history[:, 0, 0].max() < 4.0


def test_agent_cannot_step_onto_a_box_from_the_floor():
    world = scene([(1.0, 2.0, 0.0, HIDERS)], [(BOX, 2.0, 2.0, 0.0, CUBE)])
    world.locked_by[0, 1] = SEEKERS  # locked, so that it does not just slide away
    history = run(world, [(10, 5, 5, 0, 0)], 15)
    assert world.z[0, 0] == 0.0 and history[:, 0, 0].max() < 1.75 - 0.15 + 0.01


def test_agent_without_support_falls_as_gravity_says():
    """Free fall from 0.5 m under g = 50: after one control step (five substeps of semi-implicit
    Euler) the height is 0.5 - g dt^2 (1 + ... + 5) = 0.33125 m; then it lands and stays."""
    world = scene([(1.0, 1.0, 0.0, HIDERS, 0.5)])
    run(world, [IDLE], 1)
    dt = 0.075 / 5
    assert world.z[0, 0] == pytest.approx(0.5 - 50 * dt * dt * 15, abs=1e-9)
    run(world, [IDLE], 3)
    assert world.z[0, 0] == 0.0


def test_agent_on_a_box_stays_on_top():
    world = scene([(2.0, 2.0, 0.0, HIDERS, 0.5)], [(BOX, 2.0, 2.0, 0.0, CUBE)])
    run(world, [IDLE], 10)
    assert world.z[0, 0] == 0.5


def test_agent_rides_a_box_it_holds():
    """Box surfing falls out of the rules: standing on a box it holds, the agent drives, the weld
    drags the box along under it, and it stays on top."""
    world = scene([(2.0, 2.0, 0.0, SEEKERS, 0.5)], [(BOX, 2.0, 2.0, 0.0, CUBE)])
    run(world, [(9, 5, 5, 1, 0)], 15)
    assert world.holding[0, 0] == 1
    assert world.pos[0, 1, 0] > 3.0 and world.z[0, 0] == 0.5


# ---------------------------------------------------------------------------------------------
# Padding, determinism, errors
# ---------------------------------------------------------------------------------------------


def test_padded_slots_never_move_or_block():
    world = scene([(1.0, 1.0, 0.0, HIDERS), (3.0, 1.0, 0.0, SEEKERS)], n_bodies=4, n_walls=2)
    ph.place_wall(world, 0, 0, 0.0, 0.0, 6.0, 0.0, 4.0)
    world.pos[0, 2:] = (2.0, 1.0)  # junk in the padding slots, right between the two agents
    world.half[0, 2:] = (1.0, 1.0)
    world.walls[0, 1] = (2.0, 1.0, 1.0, 1.0, 0.0)  # a padding wall slot (height 0) there too
    _, sight = ph.sense(world)
    assert sight[0, 0, 1] and sight[0, 1, 0]
    run(world, [(10, 5, 5, 1, 1), (0, 5, 5, 1, 1)], 10)
    assert np.array_equal(world.pos[0, 2:], [(2.0, 1.0), (2.0, 1.0)])
    assert world.pos[0, 0, 0] > 1.5 and world.pos[0, 1, 0] < 2.5  # they walked into the junk


def test_identical_inputs_give_identical_results_on_any_thread_count():
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        world = ph.quadrant_like_worlds(16, seed=9)
        rng = np.random.default_rng(9)
        for _ in range(20):
            lidar, sight = ph.sense(world)
            ph.step(world, rng.integers(0, [11, 11, 11, 2, 2], size=(16, 4, 5)), sight)
        results.append((world.pos.copy(), world.angle.copy(), lidar))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("bad, message", [
    (np.full((1, 2, 4), 5), "shape"),
    (np.full((1, 2, 5), 5.0), "int"),
    (np.full((1, 2, 5), 11), "range"),
])
def test_bad_actions_are_a_clear_error(bad, message):
    world = scene([(1.0, 1.0, 0.0, HIDERS), (2.0, 1.0, 0.0, SEEKERS)])
    with pytest.raises(ValueError, match=message):
        ph.step(world, bad, np.ones((1, 2, 3), bool))


def test_bad_physics_constants_are_a_clear_error():
    with pytest.raises(ValueError, match="substeps"):
        ph.checked_physics(ph.Physics(substeps=0))
