"""handmade.py: start states made by hand, so that a stage's hardest step can be practised alone.

What this file teaches
    Ours, not the paper's (whose only curriculum is the other team): the starts with which
    curriculum.py begins some episodes in the quadrant games, so that a skill the game's own
    starts reach only rarely is met often enough to be learnt. Each takes the game's own fresh
    layout and moves a few bodies:
    - a fort already built (`close_doors`): the room's cube locked flush in its doorway, the
      hiders inside, so that the hiders practise keeping a fort that stands and the seeker meets
      closed doors often enough to learn what a ramp is for (optionally with the ramp standing
      outside uphill toward the room's wall, `wall_ramp`, some cells short of it, perhaps turned);
    - a fort left to finish (`close_doors` with `set_back`): the cube some cells back from the
      door, unlocked, straight back or anywhere on a half-circle (`arc`), perhaps with the
      hiders just behind it (`hiders_behind`): the last push before the whole walk;
    - for ramp defense, the ramp outside the door (`ramps_to_doors`), with a hider in the
      doorway or beside the ramp, or a hider beside the ramp where the game put it
      (`hiders_to_ramps`), perhaps some cells out from it (`draw_walk`) and on the door side
      (`draw_door_side`).
    The distances (cube gaps, ramp gaps, walks) are ranges of whole cells (0.2 m) held by the
    env and pickled with it, so a resumed run keeps them; curriculum.py's reach schedules move
    them out as the agents learn (`set_cube_gaps`, `set_fort_ramp_gaps`, `set_ramp_walks`...).
    Every start is marked on the env (`replayed`, and `door_fort`, `door_cube`, `door_ramp`,
    `ramp_hider` with their gaps), so that its episodes are told apart from the game's own.

Reading order
    1. Where bodies go: positions by the door and the ramp, and the checks that a spot is free.
    2. The settings: ranges of gaps and shares, set between updates.
    3. The starts: `close_doors`, `ramps_to_doors`, `hiders_to_ramps`, each arranging fresh
       layouts through `redraw_until`.
    4. Moving one body: `beside_ramp`, `stand_behind`, `ramp_to_wall`, and the draws.
    5. The demo: one world of each start.

Run it
    python handmade.py                     # starts.png: one world of each start, side by side

Frames and axes as in env.py: metres, the quadrant room at x > arena / 2, y < arena / 2; W
worlds, B body slots; a world w's bodies are rows of env.world.
"""

import argparse
import math

import numpy as np

import physics
from env import (AGENT, BOX, CELL, CUBE_HALF, EMPTY, FORT_INSET, HIDERS, NO_TEAM, RAMP,
                 RAMP_HALF, HideAndSeek, find_doors, fort_positions, most_ramp_gap, wall_cells)

# ---------------------------------------------------------------------------------------------
# 1. Where bodies go
# ---------------------------------------------------------------------------------------------
# `env.fort_positions` says where a cube closes a door from inside; a fort left to finish
# stands some cells back from there (straight, or on a half-circle: `arc_position`). A ramp
# stands straight out from the door (`door_ramp_position`) or uphill toward the room's wall
# (`wall_ramp_position`); a hider in the doorway (`doorway_spot`), beside the ramp
# (BESIDE_RAMP) or just behind the cube (`spots_behind`).

def arc_position(door, arena, distance, rng, tries=32):
    """[2]: where a cube's centre stands `distance` (m) from the spot where it closes `door` (a
    find_doors tuple) from inside, in a direction drawn uniformly from the half-circle facing
    into the room (straight back, or up to 90 degrees to either side), again until the cube
    stands clear of the room's walls; straight back where `tries` draws found no such place
    (straight back always fits: most_cube_gap). A fort left to finish whose cube the game
    might have placed there."""
    home = fort_positions([door], arena)[0]
    back = np.array([1.0, 0.0]) if door[2] == 0 else np.array([0.0, -1.0])  # into the room
    side = np.array([-back[1], back[0]])  # along the door's wall
    for _ in range(tries):
        turn = rng.uniform(-math.pi / 2, math.pi / 2)
        spot = home + distance * (math.cos(turn) * back + math.sin(turn) * side)
        if in_room(spot[None], arena, CUBE_HALF[0] + 0.01):  # FORT_INSET from the walls' lines
            return spot
    return home + distance * back


def wall_ramp_position(arena, gap, rng):
    """(spot [2], heading): where a ramp stands, and which way it faces, to go up `gap` cells
    (0.2 m each) short of the quadrant room's wall from outside, as `ramp_spawn="wall"` places
    it (`find_spot`): left of the room going up along +x toward wall 4, or above it going up
    along -y toward wall 5, equally often, anywhere along that wall. For forts built for the
    hiders (`close_doors`' `wall_ramp`): the ramp the seeker first learnt to climb, in a game
    whose own ramps stand anywhere."""
    side, fx = int(rng.integers(2)), 3  # a ramp's footprint is 3 x 3 cells
    i_lo, i_hi, j_lo, j_hi = wall_cells(round(arena / CELL), fx, fx, gap, side)
    i, j = rng.integers(i_lo, i_hi + 1), rng.integers(j_lo, j_hi + 1)  # one of the two is fixed
    heading = 0.0 if side == 0 else -math.pi / 2  # up along +x toward wall 4, or -y toward 5
    return np.array([(i + fx / 2) * CELL, (j + fx / 2) * CELL]), heading


DOOR_RAMP_INSET = physics.WALL_THICKNESS / 2 + RAMP_HALF[0] + 0.01  # m from a wall's line to
# the centre of a ramp flush against it (1 cm play)


def outward(door):
    """[2]: the unit vector straight out of the quadrant room through `door` (a find_doors
    tuple): -x through its vertical wall, +y through its horizontal one."""
    return np.array([-1.0, 0.0]) if door[2] == 0 else np.array([0.0, 1.0])


def door_ramp_position(door, gap):
    """[2]: where a ramp's centre stands outside the quadrant room, straight out from `door` (a
    find_doors tuple; the room lies on the +x side of its vertical wall and the -y side of its
    horizontal one) with `gap` cells (0.2 m) between it and the wall. At gap 0 it stands flush
    over the doorway, where a hider standing in the door reaches it (grab range 0.25 m from
    the agent's centre); farther out, a hider must walk out to it (curriculum.door_ramps)."""
    return np.array(door[:2]) + (DOOR_RAMP_INSET + gap * CELL) * outward(door)


BESIDE_RAMP = RAMP_HALF[0] + physics.Physics().agent_radius + 0.03  # m from a ramp's centre
# to a hider beside it: the ramp's half width, the agent's radius, 3 cm, inside the grab
# range (`beside_ramp`)

IN_DOORWAY = 0.1  # m into the room from a door's wall line: a hider standing in the doorway,
# its edge 5 cm short of the wall's outer face, clear of a ramp flush outside (1 cm play) and
# 16 cm from that ramp's face, inside the grab range (0.25 m)


def doorway_spot(door):
    """(spot [2], heading): where a hider stands in `door` of the quadrant room (a find_doors
    tuple), IN_DOORWAY into the room, and the heading that faces it out of the room."""
    out = outward(door)
    return np.array(door[:2]) - IN_DOORWAY * out, math.atan2(out[1], out[0])


def check_door_forts(p):
    """Preset p, or a clear error if its doors cannot start closed (HideAndSeek.close_doors)."""
    if p.layout != "quadrant" or p.hider_spawn != "room":
        raise ValueError(f"forts already built need the quadrant layout with the hiders starting "
                         f"in the room, got layout {p.layout!r}, hider_spawn {p.hider_spawn!r} "
                         f"({p.name})")
    if p.boxes[0] < p.doors[1] or p.long_boxes[1] > 0:
        raise ValueError(f"forts already built need a cube for every door: boxes {p.boxes} "
                         f"(cubes only, long_boxes {p.long_boxes}) against doors {p.doors} "
                         f"({p.name})")
    return p


def most_cube_gap(p):
    """The farthest back from its door a fort's cube can stand, in cells: from the spot flush
    against the door to the one flush against the room's far wall, straight across the room
    (arena / 2 wide; 11 cells, 2.2 m, in 6 m)."""
    return int((p.arena / 2 - 2 * FORT_INSET) / CELL + 1e-9)


def overlaps_square(world, w, skip, spot, half=CUBE_HALF[0]):
    """True if a body of world w other than those in `skip` (its bounding circle) reaches into
    the square of half-width `half` (a cube's by default) at `spot`, grown by 5 cm: moving a
    body there would wedge them together."""
    reach = half + 0.05 + np.linalg.norm(world.half[w], axis=-1)  # [B]
    near = np.all(np.abs(world.pos[w] - spot) < reach[:, None], axis=-1)
    near[skip] = False
    return bool(np.any(near & (world.kind[w] != EMPTY)))


BEHIND = CUBE_HALF[0] + physics.Physics().agent_radius + 0.05  # m from a cube's centre to a
# hider standing just behind it: the cube's half width, the agent's radius, 5 cm of air

SIDE_BY_SIDE = 0.32  # m between the centres of hiders standing together (each 0.3 m wide)


def spots_behind(spot, axis, n):
    """Where n hiders stand side by side just behind a cube at `spot` that closes a door of
    wall `axis` from inside ([n, 2]), and their heading (rad): toward the door, so that a step
    forward pushes the cube home."""
    inward, along = ((1.0, 0.0), (0.0, 1.0)) if axis == 0 else ((0.0, -1.0), (1.0, 0.0))
    offsets = (np.arange(n) - (n - 1) / 2) * SIDE_BY_SIDE  # [n] across the door
    spots = spot + BEHIND * np.array(inward) + offsets[:, None] * np.array(along)
    return spots, math.atan2(-inward[1], -inward[0])


def in_room(spots, arena, radius):
    """bool: every spot [n, 2] holds an agent of `radius` clear of the quadrant room's walls."""
    inner = physics.WALL_THICKNESS / 2 + radius
    x, y = spots[:, 0], spots[:, 1]
    return bool(np.all((x >= arena / 2 + inner) & (x <= arena - inner)
                       & (y >= inner) & (y <= arena / 2 - inner)))


# ---------------------------------------------------------------------------------------------
# 2. The settings: ranges of gaps and shares, set between updates
# ---------------------------------------------------------------------------------------------

def whole_cells(body, low, high, most, what_most_is):
    """(low, high) as ints: a range of gaps in whole cells, 0 <= low <= high <= most, or a
    clear error that names them (`set_cube_gaps`, `set_fort_ramp_gaps`)."""
    if not (isinstance(low, (int, np.integer)) and isinstance(high, (int, np.integer))
            and 0 <= low <= high <= most):
        raise ValueError(f"{body} gaps must be whole cells with 0 <= low <= high <= {most} "
                         f"({what_most_is}), got ({low}, {high})")
    return int(low), int(high)


def set_cube_gaps(env, low, high):
    """From the next `close_doors(..., set_back=True)` on, a fort left to finish has its
    cube `low`..`high` cells (0.2 m) back from the door: curriculum.py's `CubeReach` moves
    them back as the hiders learn to push it home. Pickled with the worlds, so a resumed
    run keeps them."""
    env.cube_gaps = whole_cells("cube", low, high, most_cube_gap(env.preset),
                                f"the room's depth in {env.preset.name!r}")


def set_fort_ramp_gaps(env, low, high):
    """From the next `close_doors(..., wall_ramp=True)` on, a fort's wall ramp stands
    `low`..`high` cells (0.2 m) short of the room's wall: curriculum.py's `RampReach` moves
    them out as the seeker learns to bring the ramp (`curriculum.fort_ramps`). Pickled with
    the worlds, so a resumed run keeps them."""
    env.fort_ramp_gaps = whole_cells("fort ramp", low, high, most_ramp_gap(env.preset),
                                     f"the room's wall to the arena's edge in "
                                     f"{env.preset.name!r}")


def set_fort_ramp_turn(env, share):
    """From the next `close_doors(..., wall_ramp=True)` on, that share (0..1) of the forts'
    wall ramps stands turned from facing the wall (`ramp_to_wall`): a seeker must turn it
    round before it climbs (curriculum.fort_ramp_turn). Pickled with the worlds."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"fort ramp turn is a share of the forts' ramps, expected 0..1, "
                         f"got {share!r}")
    env.fort_ramp_turn = float(share)


def set_ramp_walks(env, low, high):
    """From the next `ramps_to_doors(..., hider_at_ramp=True)` or `hiders_to_ramps` on, the
    hider placed beside the ramp starts `low`..`high` cells (0.2 m) farther out from its
    face (`draw_walk`, `beside_ramp`):
    curriculum.py's `WalkReach` moves them out as the hiders learn to walk to it and lock
    it. Pickled with the worlds, so a resumed run keeps them."""
    env.ramp_walks = whole_cells("ramp walk", low, high, most_ramp_gap(env.preset),
                                 f"the room's wall to the arena's edge in "
                                 f"{env.preset.name!r}")


def set_walk_door_share(env, share):
    """From the next placed hider on (as `set_ramp_walks`), that share of them stand on
    the ramp's door side (`draw_door_side`): a hider that locks only what lies on its way
    home cannot, and one placed so in every start must walk out from home to the ramp, as
    it would from the room (curriculum.walk_door_side). Pickled with the worlds."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"walk door share {share!r}: expected a share in [0, 1]")
    env.walk_door_share = float(share)


# ---------------------------------------------------------------------------------------------
# 3. The starts
# ---------------------------------------------------------------------------------------------

def close_doors(env, worlds, tries=8, set_back=False, hiders_behind=False, arc=False,
                wall_ramp=False):
    """Begin new episodes in `worlds` (int [n]) with the fort already built: a fresh layout,
    then the room's cubes (in slot order, one per door) set flush against its doors from
    inside and locked by the hiders, who start in the room. Where a cube's place would
    overlap another body the layout is drawn again, up to `tries` times; a world still in
    conflict keeps its last layout as an ordinary start. The forts' episodes are marked
    `replayed` (not the game's own starts) and `door_fort`.

    With `set_back`, the fort is left to finish: each world draws k from `cube_gaps` (low,
    high, in cells) and its cubes stand k cells (0.2 m) straight back from their doors into
    the room, unlocked, so the hiders must push them home and lock them; those episodes are
    marked `door_cube` instead, with `cube_gap` k * CELL. With `hiders_behind` as well, the
    hiders start side by side just behind the first door's cube, facing the door
    (`spots_behind`): the push is one step forward. A world where they would not fit in the
    room (the cube 11 cells back) or would touch another body is drawn again, as above.
    With `arc` instead of `hiders_behind`, the cube stands k cells from where it closes
    the door in any direction into the room (`arc_position`), not only straight back: as
    far from home as before, but placed more as the game places it. With `wall_ramp`, the
    ramp is moved to stand outside the room uphill toward its wall, k cells short of it (k
    drawn from `fort_ramp_gaps`, `wall_ramp_position`), as the `ramp_spawn="wall"` games
    place it: the seeker's first lesson in what a ramp is for, in a game whose own ramps
    stand anywhere. A world where it would touch another body is drawn again. Returns the
    worlds arranged."""
    p = check_door_forts(env.preset)
    if arc and (hiders_behind or not set_back):
        raise ValueError(f"arc places the cube of a fort left to finish anywhere on its "
                         f"half-circle: it needs set_back and no hiders_behind (they stand "
                         f"straight behind the cube), got set_back={set_back}, "
                         f"hiders_behind={hiders_behind}")
    if wall_ramp and env.n_ramps == 0:
        raise ValueError(f"wall_ramp moves the ramp to the room's wall: game "
                         f"{env.preset.name!r} has ramps={env.n_ramps}, expected 1 or more")
    s, (low, high) = env.world, env.cube_gaps

    def arrange(w):  # the gap drawn, or None where a body is in the way
        gap = int(env.rng.integers(low, high + 1)) if set_back else 0  # cells
        doors = find_doors(s.walls[w], s.wall_height[w])
        spots = fort_positions(doors, p.arena, back=gap * CELL)
        if arc:  # the first door's cube on its half-circle, any others straight back
            spots[0] = arc_position(doors[0], p.arena, gap * CELL, env.rng)
        cubes = np.flatnonzero(s.kind[w] == BOX)[:len(spots)]
        hiders = np.flatnonzero((s.kind[w] == AGENT) & (s.team[w] == HIDERS))
        moved = hiders if hiders_behind else hiders[:0]  # out of the cube's way anyway
        for cube, spot in zip(cubes, spots):
            if overlaps_square(s, w, np.r_[cube, moved], spot):
                return None
            s.pos[w, cube], s.angle[w, cube] = spot, 0.0
            s.locked_by[w, cube] = NO_TEAM if set_back else HIDERS
        if hiders_behind and not stand_behind(env, w, cubes[0], doors[0][2], hiders):
            return None
        if wall_ramp and not ramp_to_wall(env, w):
            return None
        return gap

    done, gaps = redraw_until(env, worlds, tries, arrange)
    if set_back:
        env.door_cube[done] = True
        env.cube_gap[done] = np.array(gaps) * CELL
    else:
        env.door_fort[done] = True
    return done


def ramps_to_doors(env, worlds, gaps, hider_at_door=False, hider_at_ramp=False, tries=8):
    """Begin new episodes in `worlds` (int [n]) from the game's own layout with the first
    ramp moved outside the quadrant room, straight out from its first door, a gap drawn
    from `gaps` (low, high, in cells of 0.2 m) between it and the wall, turned by a quarter
    turn drawn at random (`door_ramp_position`): at gap 0 a hider standing in the doorway
    reaches it, farther out one must walk out to it. A start for ramp defense (the
    hiders lock it, or move it away, before the seeker may move): curriculum.door_ramps.
    With `hider_at_door`, the first hider starts in the doorway facing out
    (`doorway_spot`): at gap 0 a lock pressed in its first step takes. With
    `hider_at_ramp` instead, it starts outside beside the ramp, facing it (`beside_ramp`;
    those episodes are marked `ramp_hider` too): the lock is within reach (or some cells
    away, as `draw_walk` says), and the way back into the room as long as the gap.
    Where the ramp (or that hider) would touch another body the layout is drawn again, up
    to `tries` times. Those episodes are marked `replayed` and `door_ramp`, with
    `door_ramp_gap` the gap in m (and `ramp_walk` as `draw_walk` says). Returns the
    worlds arranged."""
    check_ramp_start(env, "ramps_to_doors moves the ramp to the room's door")
    if hider_at_door and hider_at_ramp:
        raise ValueError("a hider starts in the doorway (hider_at_door) or beside the ramp "
                         "(hider_at_ramp), not both")
    low, high = whole_cells("door ramp", *gaps, most_ramp_gap(env.preset),
                            f"the room's wall to the arena's edge in {env.preset.name!r}")
    s, radius = env.world, physics.Physics().agent_radius

    def arrange(w):  # (the gap drawn, the hider's walk and side), or None where a body is
        gap = int(env.rng.integers(low, high + 1))  # in the way
        walk, side = (draw_walk(env), draw_door_side(env)) if hider_at_ramp else (0, 0)
        door = find_doors(s.walls[w], s.wall_height[w])[0]
        spot = door_ramp_position(door, gap)
        ramp = np.flatnonzero(s.kind[w] == RAMP)[0]
        hider = np.flatnonzero((s.kind[w] == AGENT) & (s.team[w] == HIDERS))[0]
        moved = [ramp, hider] if hider_at_door or hider_at_ramp else [ramp]
        if overlaps_square(s, w, moved, spot, half=RAMP_HALF[0]):
            return None
        if hider_at_door:  # clear of all but the ramp, which it stands 1 cm from at gap 0
            stand, heading = doorway_spot(door)
            if overlaps_square(s, w, moved, stand, half=radius):
                return None
            s.pos[w, hider], s.angle[w, hider] = stand, heading
        s.pos[w, ramp], s.angle[w, ramp] = spot, env.rng.integers(4) * math.pi / 2
        if hider_at_ramp and not beside_ramp(env, w, walk * CELL, side):
            return None
        return gap, walk, on_door_side(env, w) if hider_at_ramp else np.nan

    done, drawn = redraw_until(env, worlds, tries, arrange)
    env.door_ramp[done], env.ramp_hider[done] = True, hider_at_ramp
    env.door_ramp_gap[done] = np.array([gap for gap, _, _ in drawn]) * CELL
    if hider_at_ramp:
        env.ramp_walk[done] = np.array([walk for _, walk, _ in drawn]) * CELL
        env.walk_door_side[done] = [side for _, _, side in drawn]
    return done


def hiders_to_ramps(env, worlds, tries=8):
    """Begin new episodes in `worlds` (int [n]) from the game's own layout with the first
    hider moved outside the room beside the first ramp where the game placed it, facing
    one of its four faces (drawn at random) from 3 cm, inside the grab range: a lock
    pressed in its first step takes, and the ramp stays where it is, away from any wall
    the seeker could climb by it, once the hider is back in the room (a start for ramp
    defense in the game's own places: curriculum.ramp_hiders). A face whose spot leaves
    the arena, lies in the room or touches another body is not used; where none is free
    the layout is drawn again, up to `tries` times. (The hider may start some cells
    farther out instead, as `draw_walk` says, and on the door side, as `draw_door_side`
    says.) Those episodes are marked `replayed` and `ramp_hider`. Returns the worlds
    arranged."""
    check_ramp_start(env, "hiders_to_ramps moves a hider beside the ramp")

    def arrange(w):  # the hider's walk and side, or None where no face is free
        walk, side = draw_walk(env), draw_door_side(env)
        if not beside_ramp(env, w, walk * CELL, side):
            return None
        return walk, on_door_side(env, w)

    done, drawn = redraw_until(env, worlds, tries, arrange)
    env.ramp_hider[done] = True
    env.ramp_walk[done] = np.array([walk for walk, _ in drawn]) * CELL
    env.walk_door_side[done] = [side for _, side in drawn]
    return done


def redraw_until(env, worlds, tries, arrange):
    """Fresh layouts in `worlds` (int [n]), each then arranged by `arrange(w)`, which moves
    bodies of world w and returns what to remember of it, or None where a body is in the
    way; those worlds are drawn again, up to `tries` layouts in all (a world still in
    conflict plays its last layout, perhaps part-arranged, as an ordinary start). The
    arranged worlds start their episodes where they stand, marked `replayed` (not the
    game's own starts). Returns (the arranged worlds, int [k]; what arrange returned for
    each, a list of k)."""
    pending, arranged = np.asarray(worlds, np.int64), []
    for _ in range(tries):
        if not len(pending):
            break
        env.new_episodes(pending)
        results = [(w, arrange(w)) for w in pending]
        arranged += [(w, r) for w, r in results if r is not None]
        pending = np.array([w for w, r in results if r is None], np.int64)
    done = np.array([w for w, _ in arranged], np.int64)
    if len(done):
        env.start_episodes(done)
        env.replayed[done] = True
    return done, [r for _, r in arranged]


# ---------------------------------------------------------------------------------------------
# 4. Moving one body, and the draws
# ---------------------------------------------------------------------------------------------

def check_ramp_start(env, what):
    """A clear error, naming `what` the start does, unless the game's hiders start in the
    quadrant room (check_door_forts) and it has a ramp: the ramp-defense starts."""
    check_door_forts(env.preset)
    if env.n_ramps == 0:
        raise ValueError(f"{what}: game {env.preset.name!r} has ramps={env.n_ramps}, "
                         f"expected 1 or more")


def draw_walk(env):
    """For a hider placed beside a ramp (`hiders_to_ramps`, `ramps_to_doors`' hider_at_ramp):
    how many cells (0.2 m) farther out from the ramp's face it starts, still facing the
    ramp, drawn from `ramp_walks` (`set_ramp_walks`; (0, 0), beside it, unless set, with
    nothing drawn then): the lock a few steps away. Recorded as `ramp_walk`, in m."""
    low, high = env.ramp_walks
    return int(env.rng.integers(low, high + 1)) if high > 0 else 0


def draw_door_side(env):
    """For that hider: 1 to stand it on the ramp's door side (`beside_ramp`'s door_side),
    with the share `walk_door_share` (`set_walk_door_share`; 0, nothing drawn, unless
    set), else 0 (any free face). Recorded, whichever was drawn, as `walk_door_side`
    (`on_door_side`)."""
    share = env.walk_door_share
    return int(env.rng.random() < share) if share > 0 else 0


def beside_ramp(env, w, back=0.0, door_side=False):
    """Move world w's first hider beside its first ramp, facing one of the ramp's four
    faces (drawn at random) from 3 cm, inside the grab range, outside the room, or `back`
    m farther out from that face, facing the ramp still; False, nothing moved, where no
    face leaves room for it in the arena clear of other bodies. With `door_side`, only a
    spot nearer the room's door than the ramp's centre is: the hider stands between the
    ramp and its way home, so the lock takes a walk away from home, as from the room."""
    s, radius, arena = env.world, physics.Physics().agent_radius, env.preset.arena
    edge = physics.WALL_THICKNESS / 2 + radius + 0.01  # from a wall's line to an agent
    out = BESIDE_RAMP + back  # m from the ramp's centre to the hider's
    ramp = np.flatnonzero(s.kind[w] == RAMP)[0]
    hider = np.flatnonzero((s.kind[w] == AGENT) & (s.team[w] == HIDERS))[0]
    for k in env.rng.permutation(4):
        toward = s.angle[w, ramp] + k * math.pi / 2  # from the ramp to the hider
        spot = s.pos[w, ramp] + out * np.array([math.cos(toward), math.sin(toward)])
        if door_side and not nearer_door(env, w, spot):
            continue
        inside_arena = np.all((spot >= edge) & (spot <= arena - edge))
        in_the_room = in_room(spot[None], arena, -edge)  # reaching into it, even
        if (inside_arena and not in_the_room
                and not overlaps_square(s, w, [ramp, hider], spot, half=radius)):
            s.pos[w, hider], s.angle[w, hider] = spot, toward + math.pi  # facing it
            return True
    return False


def on_door_side(env, w):
    """1.0 if world w's first hider stands on its first ramp's door side (`nearer_door`),
    between the ramp and its way home, else 0.0."""
    hider = np.flatnonzero((env.world.kind[w] == AGENT) & (env.world.team[w] == HIDERS))[0]
    return float(nearer_door(env, w, env.world.pos[w, hider]))


def nearer_door(env, w, spot):
    """Whether `spot` (x, y) lies nearer world w's door (its first) than its first ramp's
    centre does."""
    s = env.world
    door = np.array(find_doors(s.walls[w], s.wall_height[w])[0][:2])
    ramp = np.flatnonzero(s.kind[w] == RAMP)[0]
    return np.linalg.norm(spot - door) < np.linalg.norm(s.pos[w, ramp] - door)


def stand_behind(env, w, cube, axis, hiders):
    """Move world w's hiders just behind `cube`, which closes (or will close) a door of
    wall `axis` (find_doors' 0 or 1); False, nothing moved, where they would leave the room
    or touch a body other than the cube."""
    s, arena = env.world, env.preset.arena
    spots, heading = spots_behind(s.pos[w, cube], axis, len(hiders))
    radius = physics.Physics().agent_radius
    if not in_room(spots, arena, radius) or any(
            overlaps_square(s, w, np.r_[cube, hiders], spot, half=radius) for spot in spots):
        return False
    s.pos[w, hiders], s.angle[w, hiders] = spots, heading
    return True


def ramp_to_wall(env, w):
    """Move world w's first ramp uphill toward the room's wall, a gap drawn from
    `fort_ramp_gaps` short of it (`wall_ramp_position`), in a `fort_ramp_turn` share of the
    worlds turned a quarter, a half or three quarters round from facing it (equally often,
    as `ramp-room-turn` turns its ramps); False, nothing moved, where it would touch
    another body."""
    s, ramps = env.world, np.flatnonzero(env.world.kind[w] == RAMP)
    gap = int(env.rng.integers(env.fort_ramp_gaps[0], env.fort_ramp_gaps[1] + 1))
    spot, heading = wall_ramp_position(env.preset.arena, gap, env.rng)
    if env.fort_ramp_turn > 0 and env.rng.random() < env.fort_ramp_turn:  # no draw at 0
        heading += int(env.rng.integers(1, 4)) * math.pi / 2  # a quarter, half or 3/4 round
    if overlaps_square(s, w, ramps[:1], spot, half=RAMP_HALF[0]):
        return False
    s.pos[w, ramps[0]], s.angle[w, ramps[0]] = spot, heading
    return True


# ---------------------------------------------------------------------------------------------
# 5. The demo
# ---------------------------------------------------------------------------------------------

DEMO_STARTS = (  # (label, what to do to world w of a fresh env)
    ("a fort built, its ramp at the wall",
     lambda env, w: close_doors(env, [w], wall_ramp=True)),
    ("a fort left to finish, 5 cells out on its arc",
     lambda env, w: (set_cube_gaps(env, 5, 5), close_doors(env, [w], set_back=True, arc=True))),
    ("the ramp 3 cells out of the door, a hider beside it",
     lambda env, w: ramps_to_doors(env, [w], (3, 3), hider_at_ramp=True)),
    ("a hider 2 cells out from the ramp where the game put it",
     lambda env, w: (set_ramp_walks(env, 2, 2), hiders_to_ramps(env, [w]))),
)


def main(argv=None):
    """Draw one world of each start side by side, as its episode begins; returns the env."""
    import imageio.v2 as imageio

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="ramp-room-lock", help="a quadrant game with a ramp")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=320, help="pixels per world")
    parser.add_argument("--out", default="starts.png")
    args = parser.parse_args(argv)
    env = HideAndSeek(args.preset, n_worlds=len(DEMO_STARTS), seed=args.seed)
    for w, (label, start) in enumerate(DEMO_STARTS):
        start(env, w)
        print(f"world {w}: {label}")
    images = [env.render(w, args.size) for w in range(len(DEMO_STARTS))]
    imageio.imwrite(args.out, np.concatenate(images, axis=1))
    print(f"wrote {args.out}")
    return env


if __name__ == "__main__":
    main()
