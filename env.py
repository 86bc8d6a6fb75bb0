"""env.py: the hide-and-seek game on a batch of physics worlds.

What this file teaches
    How the paper turns a physics world into a game. A *layout* puts walls, boxes, ramps and two
    teams into the arena (the quadrant game: a 3 x 3 m room in a corner; the full game: one to
    four random rooms). The first 40% of every episode is the *preparation phase*: seekers are
    frozen and nobody is rewarded, so hiders have time to build. An agent *sees* what lies in the
    135-degree cone in front of it with nothing in between; hiders get +1 for each step in which
    no seeker sees any hider and -1 otherwise, seekers the opposite. Each agent observes a set of
    entities (itself, the other agents, boxes, ramps) plus 30 lidar ranges, with a *visibility
    mask* for the policy and an *existence mask* for the omniscient critic. Per episode the env
    reports the behaviour statistics by which the paper recognises emergent stages (figure 3).
    Paper: Baker et al. 2019, sections 3 and 5; the exact rules with sources are in
    ../shared/reference/paper_facts.md, sections 1-4 and 6.4.

Reading order
    1. `Preset` and `PRESETS`: the ladder of games (tiny, fort, fort-ramp-wall, fort-ramp,
       ramp-room-wall, ramp-room-nudge, ramp-room-near, ramp-room, ramp-room-lock, ramp, quadrant,
       full).
    2. Layouts: the cell grid, walls grown wall by wall, spawning by rejection (numba).
    3. `vision`, `team_rewards`, `penalties`: who sees whom, and what it pays.
    4. `observe`: the observation dict, one feature table per entity type; then forts (4b, can
       a seeker still walk to a hider?) and doors (4c, where a cube closes one). The start
       states built from them (a fort already built or left to finish, a ramp within a hider's
       reach) are handmade.py's.
    5. `HideAndSeek`: the batched env; `step()` is its table of contents.
    6. `parallel_env`: one world as a PettingZoo ParallelEnv.
    7. Rendering (vision cones, a progress bar, a 3 x 5 pixel font), the demo, the benchmark.

Run it
    python env.py                          # random-policy quadrant and random-rooms episodes as
                                           # env_quadrant.gif, env_rooms.gif (--out-prefix PATH)
    python env.py --bench                  # env-steps/s of 1024 quadrant worlds, and the time split

Axes: W worlds, A agent slots, B body slots (agents first, then boxes, then ramps), M wall slots,
E entities of one type, D features. Agent slots hold the hiders first, then the seekers; a slot
left empty this episode (team sizes may vary) is padding: physics kind EMPTY, team -1. Frames, as
in physics.py: metres, x right, y up, angles counter-clockwise from +x; an agent's angle is its
heading, the centre of its vision cone.
"""

import argparse
import contextlib
import dataclasses
import math
import time
from typing import NamedTuple

import numpy as np
from numba import njit

import physics
from physics import AGENT, BOX, EMPTY, HIDERS, NO_TEAM, RAMP, SEEKERS

# ---------------------------------------------------------------------------------------------
# 1. Presets: the ladder of games
# ---------------------------------------------------------------------------------------------

LAYOUTS = ("arena", "quadrant", "rooms")  # outer walls only; a room in a corner; random rooms
SPAWNS = ("anywhere", "room", "outside", "together", "wall")  # where a kind of body may appear;
# "wall" (ramps only): outside the room against one of its walls, uphill toward it


@dataclasses.dataclass(frozen=True)
class Preset:
    """One game. Ranges are (min, max), drawn uniformly per episode. Defaults: the quadrant game."""

    name: str = "custom"
    layout: str = "quadrant"  # one of LAYOUTS
    arena: float = 6.0  # m, side of the square floor (paper 6), a multiple of the 0.2 m cell
    hiders: tuple = (2, 2)  # hiders per episode (paper, full game: 1..3)
    seekers: tuple = (2, 2)  # seekers per episode (paper, full game: 1..3)
    boxes: tuple = (2, 2)  # boxes per episode (paper, full game: 3..9)
    long_boxes: tuple = (0, 0)  # how many boxes are long, 1.65 x 0.15 m, at most all of them
    # (paper, full game: 3..9)
    ramps: int = 1  # ramps, every episode
    horizon: int = 80  # control steps per episode (paper: 80 quadrant, 240 full)
    prep_fraction: float = 0.4  # the first 40% of an episode is the preparation phase; 0 = none
    doors: tuple = (1, 2)  # quadrant room: doors in its two walls (paper: 2, one dropped w.p. 0.5)
    rooms: tuple = (1, 4)  # random-rooms layout: rooms per episode (paper 1..4)
    outer_walls: float = 1.0  # probability that the 4 m outer walls stand (paper, full game: 0.5)
    hider_spawn: str = "anywhere"  # one of SPAWNS; "together": within 0.6 m of the first hider
    seeker_spawn: str = "outside"  # paper, quadrant: seekers outside the room
    box_spawn: str = "room"  # paper, quadrant: boxes inside the room
    ramp_spawn: str = "anywhere"
    ramp_gap: tuple = (0, 0)  # ramp_spawn "wall" only: cells (0.2 m) between the ramp's high
    # edge and the wall, drawn per episode (0: against it; more: the seeker must push it there)
    ramp_turn: float = 0.0  # ramp_spawn "wall" only: the share of episodes whose wall ramp is
    # turned a quarter, a half or three quarters round (equally often) from facing the wall
    lock_ramps: bool = False  # may ramps be locked (paper: not in the quadrant game)
    bounds_margin: float = -0.1  # m: an agent whose centre leaves the arena grown by this gets
    # -10 (paper: -0.1 in the quadrant game, i.e. [0.1, 5.9]; +6 in the full game, an 18 m square)
    objects_bounded: bool = True  # every agent gets -10 while a box or ramp leaves that area
    policy_sees_all: bool = False  # the policy's masks are the existence masks: every entity
    # is observed, as in ZACL's fully observable game (paper: cone and line of sight). The
    # reward, grab and lock still use vision; only what the policy may attend to changes.


PRESETS = {
    # Chasing: one hider, one seeker, one cube to hide behind, a small walled arena, short games.
    "tiny": Preset("tiny", layout="arena", arena=4.0, hiders=(1, 1), seekers=(1, 1),
                   boxes=(1, 1), ramps=0, horizon=40, seeker_spawn="anywhere",
                   box_spawn="anywhere"),
    # Fort building: the hider and one cube start in the room, whose one door the cube closes
    # (trained hiders also wedge it across a corner of the room and shelter behind it).
    # Fully observed, as ZACL's small game (the small network has no memory to recall a seeker
    # that left its cone).
    "fort": Preset("fort", hiders=(1, 1), seekers=(1, 1), boxes=(1, 1), ramps=0, doors=(1, 1),
                   hider_spawn="room", policy_sees_all=True),
    # `fort` with a ramp outside the room: the lone hider's fort holds (the shipped fort policy
    # keeps it to the end in about half of its episodes here), so the seeker's way in is over
    # the wall. A 1 v 1 game with one box and one ramp, as VACL's and MAPPO's desktop runs.
    "fort-ramp": Preset("fort-ramp", hiders=(1, 1), seekers=(1, 1), boxes=(1, 1), ramps=1,
                        doors=(1, 1), hider_spawn="room", ramp_spawn="outside",
                        policy_sees_all=True),
    # `fort-ramp` with the ramp set against the room's wall from outside, uphill toward it: the
    # seeker has only to find it and climb (a step before pushing a ramp to the wall itself).
    "fort-ramp-wall": Preset("fort-ramp-wall", hiders=(1, 1), seekers=(1, 1), boxes=(1, 1),
                             ramps=1, doors=(1, 1), hider_spawn="room", ramp_spawn="wall",
                             policy_sees_all=True),
    # The step between `fort` and `ramp`: ZACL's game with both hiders starting in the room, the
    # placement the released code falls back to (`quadrant_game_hider_uniform_placement=False`).
    # One box closing the door hides both; then only a ramp gets the seeker in.
    "ramp-room": Preset("ramp-room", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1), ramps=1,
                        doors=(1, 1), hider_spawn="room", ramp_spawn="outside",
                        policy_sees_all=True),
    # `ramp-room` with the ramp against the room's wall, as `fort-ramp-wall` is to `fort-ramp`.
    "ramp-room-wall": Preset("ramp-room-wall", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1),
                             ramps=1, doors=(1, 1), hider_spawn="room", ramp_spawn="wall",
                             policy_sees_all=True),
    # Between the two: the ramp still faces uphill toward the room's wall, but 0-2 m short of it
    # (uniform over 0..10 cells), so that a seeker must push it to the wall before it climbs;
    # the nearest ones need a nudge, the farthest a walk (a distance curriculum by mixture).
    "ramp-room-near": Preset("ramp-room-near", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1),
                             ramps=1, doors=(1, 1), hider_spawn="room", ramp_spawn="wall",
                             ramp_gap=(0, 10), policy_sees_all=True),
    # `ramp-room-near` with only its nearest gaps, 0.2-0.6 m (1..3 cells): the first push, where
    # a seeker that climbs the wall ramp already gets in now and then (the frontier, no more).
    "ramp-room-nudge": Preset("ramp-room-nudge", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1),
                              ramps=1, doors=(1, 1), hider_spawn="room", ramp_spawn="wall",
                              ramp_gap=(1, 3), policy_sees_all=True),
    # A bridge from the wall ramp to a ramp anywhere: 0-2.4 m short of the wall (every gap),
    # and in half of the episodes turned from facing it, so the seeker must turn it before it
    # climbs (the other half is what a seeker that brings a facing ramp already knows).
    "ramp-room-turn": Preset("ramp-room-turn", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1),
                             ramps=1, doors=(1, 1), hider_spawn="room", ramp_spawn="wall",
                             ramp_gap=(0, 12), ramp_turn=0.5, policy_sees_all=True),
    # `ramp-room` with ramps that may be locked, as in the paper's full game (its quadrant game
    # forbids it). Our 0.4 m door lets no ramp into the room, so the quadrant game's other
    # defense, taking the ramp into the fort, cannot happen here, and a ramp only moved away
    # is brought back by a seeker that has learnt to fetch it: locked, it stays where the
    # hiders left it (ramp defense, the paper's stage 4).
    "ramp-room-lock": Preset("ramp-room-lock", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1),
                             ramps=1, doors=(1, 1), hider_spawn="room", ramp_spawn="outside",
                             lock_ramps=True, policy_sees_all=True),
    # ZACL's game: two hiders, one seeker, the cube in the room and a ramp outside it.
    "ramp": Preset("ramp", hiders=(2, 2), seekers=(1, 1), boxes=(1, 1), ramps=1, doors=(1, 1),
                   ramp_spawn="outside", policy_sees_all=True),
    # The paper's quadrant game: 2 v 2, two cubes in the room, a ramp anywhere, 1 or 2 doors.
    "quadrant": Preset("quadrant"),
    # The paper's full game: random rooms, 1-3 v 1-3, 3-9 boxes (at least 3 long), 2 ramps.
    "full": Preset("full", layout="rooms", hiders=(1, 3), seekers=(1, 3), boxes=(3, 9),
                   long_boxes=(3, 9), ramps=2, horizon=240, outer_walls=0.5,
                   hider_spawn="together", seeker_spawn="together", box_spawn="anywhere",
                   lock_ramps=True, bounds_margin=6.0, objects_bounded=False),
}

CELL = 0.2  # m, the placement grid (paper: 30 x 30 cells on the 6 m floor)
DOOR_CELLS = 2  # a door is 2 cells = 0.4 m of clear opening: an agent (0.3 m) passes, a cube
# (0.5 m) standing against it closes it
MIN_ROOM_CELLS = 6  # parallel walls of random rooms are at least 1.2 m apart (paper)
TOGETHER_CELLS = 3  # team-mates spawn within 3 cells of the first one (paper: 0.5 m, 3 cells)
INNER_WALL_HEIGHT = 0.5  # m (paper); the outer wall is physics.OUTER_WALL_HEIGHT, 4 m
CUBE_HALF, LONG_HALF, RAMP_HALF = (0.25, 0.25), (0.825, 0.075), (0.25, 0.25)  # m
PENALTY = -10.0  # reward for being out of bounds, replacing the game reward (paper)
IDLE = np.array([5, 5, 5, 0, 0])  # the zero action: middle bins, no grab, no lock


def get_preset(preset):
    """A checked Preset from a name or a Preset instance, or a clear error."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    if not isinstance(preset, Preset):
        raise TypeError(f"preset must be a name or an env.Preset, got {type(preset).__name__}")
    check_preset(preset)
    return preset


def check_preset(p):
    """Raise a clear error for a setting that cannot be played or cannot be placed."""
    def fail(message):
        raise ValueError(f"preset {p.name!r}: {message}")
    if p.layout not in LAYOUTS:
        fail(f"layout {p.layout!r} is not one of {LAYOUTS}")
    if not 0.0 <= p.prep_fraction <= 1.0:
        fail(f"prep_fraction must be in 0..1, got {p.prep_fraction}")
    if not 0.0 <= p.outer_walls <= 1.0:
        fail(f"outer_walls is a probability in 0..1, got {p.outer_walls}")
    if p.horizon < 1:
        fail(f"horizon must be at least 1 step, got {p.horizon}")
    cells = round(p.arena / CELL)
    if abs(cells * CELL - p.arena) > 1e-9 or cells < 2 * MIN_ROOM_CELLS:
        fail(f"arena must be a multiple of {CELL} m and at least {2 * MIN_ROOM_CELLS * CELL} m, "
             f"got {p.arena}")
    for field, low in (("hiders", 1), ("seekers", 1), ("boxes", 0), ("long_boxes", 0),
                       ("doors", 1), ("rooms", 1)):
        value = getattr(p, field)
        if not (isinstance(value, tuple) and len(value) == 2
                and all(isinstance(v, (int, np.integer)) for v in value)):
            fail(f"{field} must be a range (min, max) of two ints, got {value!r}")
        lo, hi = value
        if not low <= lo <= hi:
            fail(f"{field} must be a range (min, max) with {low} <= min <= max, got {(lo, hi)}")
    if p.layout == "quadrant" and p.doors[1] > 2:
        fail(f"the quadrant room has two walls, so at most 2 doors, got {p.doors}")
    if p.layout == "rooms" and p.rooms[1] > 6:
        fail(f"at most 6 random rooms fit the grid, got {p.rooms}")
    if p.long_boxes[0] > p.boxes[0] or p.ramps < 0:
        fail(f"need long_boxes min <= boxes min and ramps >= 0, got long_boxes={p.long_boxes}, "
             f"boxes={p.boxes}, ramps={p.ramps}")
    for field in ("hider_spawn", "seeker_spawn", "box_spawn", "ramp_spawn"):
        spawn = getattr(p, field)
        if spawn not in SPAWNS:
            fail(f"{field} {spawn!r} is not one of {SPAWNS}")
        if spawn in ("room", "outside", "wall") and p.layout != "quadrant":
            fail(f"{field} {spawn!r} needs the quadrant layout's room, layout is {p.layout!r}")
        if spawn == "wall" and field != "ramp_spawn":
            fail(f"{field} 'wall' is a ramp's spawn (uphill toward the room's wall); expected "
                 f"one of {tuple(s for s in SPAWNS if s != 'wall')}")
    gap = p.ramp_gap
    most_gap = most_ramp_gap(p)
    if not (isinstance(gap, tuple) and len(gap) == 2
            and all(isinstance(v, (int, np.integer)) for v in gap) and 0 <= gap[0] <= gap[1]):
        fail(f"ramp_gap must be a range (min, max) of cells with 0 <= min <= max, got {gap!r}")
    if gap[1] > 0 and p.ramp_spawn != "wall":
        fail(f"ramp_gap {gap} is a distance from the room's wall: it needs ramp_spawn 'wall', "
             f"got {p.ramp_spawn!r}")
    if gap[1] > most_gap:
        fail(f"ramp_gap {gap}: at most {most_gap} cells fit outside the room, got max {gap[1]}")
    if not 0 <= p.ramp_turn <= 1:
        fail(f"ramp_turn is a share of episodes, expected 0..1, got {p.ramp_turn!r}")
    if p.ramp_turn > 0 and p.ramp_spawn != "wall":
        fail(f"ramp_turn {p.ramp_turn} turns a ramp from facing the room's wall: it needs "
             f"ramp_spawn 'wall', got {p.ramp_spawn!r}")
    check_room_for_bodies(p, cells, fail)


def most_ramp_gap(p):
    """The farthest a wall ramp can start short of the room's wall, in cells: the ramp's 3
    cells and the gap fit between the arena's edge and wall 4 (12 cells, 2.4 m, in 6 m)."""
    return round(p.arena / CELL) // 2 - 3


def check_room_for_bodies(p, cells, fail):
    """More bodies than free cells is an error before any episode starts. Random placement
    jams at about half the area, so each region may be at most half filled by footprints."""
    most_long = min(p.long_boxes[1], p.boxes[1])
    footprints = {"hider_spawn": 4 * p.hiders[1], "seeker_spawn": 4 * p.seekers[1],
                  "box_spawn": 18 * most_long + 9 * (p.boxes[1] - most_long),
                  "ramp_spawn": 9 * p.ramps}  # cells: agent 2x2, cube and ramp 3x3, long 9x2
    room = (cells // 2) ** 2
    need_room = sum(n for field, n in footprints.items() if getattr(p, field) == "room")
    need_all = sum(footprints.values())
    if need_room > room // 2:
        fail(f"the bodies that spawn in the room need {need_room} of its {room} cells "
             f"(0.2 m); at most half can be filled at random: use fewer or smaller bodies")
    if need_all > cells * cells // 2:
        fail(f"the bodies need {need_all} of the arena's {cells * cells} cells (0.2 m); at "
             "most half can be filled at random: use fewer or smaller bodies")


def max_agents(p):
    return p.hiders[1] + p.seekers[1]


def n_wall_slots(p):
    """Outer walls, then two pieces per inner wall (its door splits it)."""
    inner = {"arena": 0, "quadrant": 2, "rooms": p.rooms[1] - 1}[p.layout]
    return 4 + 2 * inner


# ---------------------------------------------------------------------------------------------
# 2. Layouts: walls on a grid, then bodies by rejection sampling (numba, one world at a time)
# ---------------------------------------------------------------------------------------------

# The floor is a grid of n x n cells of 0.2 m. Walls lie on grid *lines*, so a wall is
# (axis, line, lo, hi): axis 0 is vertical, x = line, from y = lo to y = hi (all in cells);
# axis 1 is horizontal, y = line, from x = lo to hi. Walls 0-3 frame the floor (standing or not).
#
#     y=n +-------------+     quadrant: the room is x in [n/2, n), y in [0, n/2), closed by
#         |             |     wall 4 (vertical, x = n/2) and wall 5 (horizontal, y = n/2).
#         |      +--  --|     Each has a door (a gap of 2 cells) at least one cell from either
#         |      |   5  |     end; when the game has one door, one wall keeps no gap.
#         |      4 room |
#         |             |     rooms: each new wall starts on an existing wall and runs to the
#         |      |      |     first wall it meets, so it splits one room in two; one door in it
#     y=0 +------+------+     keeps the two halves connected.
#        x=0   x=n/2   x=n
LAYOUT_CODES = {name: k for k, name in enumerate(LAYOUTS)}
SPAWN_CODES = {name: k for k, name in enumerate(SPAWNS)}
ANYWHERE, ROOM, OUTSIDE, TOGETHER, WALL = range(5)
ARENA_LAYOUT, QUADRANT_LAYOUT, ROOMS_LAYOUT = range(3)


class Rules(NamedTuple):
    """A Preset as numbers, for the numba kernels (which cannot read strings or dataclasses)."""

    layout: int
    cells: int  # n, grid cells per side
    hiders_min: int
    hiders_max: int
    seekers_min: int
    seekers_max: int
    boxes_min: int
    boxes_max: int
    long_min: int
    long_max: int
    ramps: int
    doors_min: int
    doors_max: int
    rooms_min: int
    rooms_max: int
    outer_walls: float
    hider_spawn: int
    seeker_spawn: int
    box_spawn: int
    ramp_spawn: int
    lock_ramps: bool
    agent_radius: float
    ramp_gap_min: int = 0  # last and with defaults: checkpoints pickle their envs' Rules, and
    ramp_gap_max: int = 0  # those written before these fields existed must still load
    ramp_turn: float = 0.0


def rules_of(p):
    return Rules(LAYOUT_CODES[p.layout], round(p.arena / CELL), *p.hiders, *p.seekers, *p.boxes,
                 *p.long_boxes, p.ramps, *p.doors, *p.rooms, float(p.outer_walls),
                 SPAWN_CODES[p.hider_spawn], SPAWN_CODES[p.seeker_spawn],
                 SPAWN_CODES[p.box_spawn], SPAWN_CODES[p.ramp_spawn], bool(p.lock_ramps),
                 physics.Physics().agent_radius, *p.ramp_gap, float(p.ramp_turn))


@njit(cache=True)
def generate_layouts(R, seeds, kind, team, half, pos, angle, lockable, walls, wall_height):
    """Fill worlds i = 0..len(seeds)-1 of the given arrays (fresh from physics.make_world) with
    new layouts. World i draws from its own seed, so a layout does not depend on which other
    worlds reset with it. Returns ok [len(seeds)] (False: nothing fitted in 50 attempts)."""
    ok = np.zeros(len(seeds), np.bool_)
    for i in range(len(seeds)):
        np.random.seed(seeds[i])
        for _ in range(50):
            axis, line, lo, hi, door, outer = build_walls(R)
            if len(axis) == 0:
                continue  # the random rooms got stuck: start again
            vert, horiz = wall_edges(R.cells, axis, line, lo, hi, door)
            if place_bodies(R, vert, horiz, kind[i], team[i], half[i], pos[i], angle[i],
                            lockable[i]):
                write_walls(axis, line, lo, hi, door, outer, walls[i], wall_height[i])
                ok[i] = True
                break
    return ok


@njit(cache=True)
def build_walls(R):
    """The walls of one layout as arrays (axis, line, lo, hi, door start or -1) and whether the
    outer walls stand. Empty arrays mean failure (try again)."""
    n = R.cells
    axis = [0, 1, 0, 1]  # the frame: x = 0, y = 0, x = n, y = n
    line = [0, 0, n, n]
    lo, hi = [0, 0, 0, 0], [n, n, n, n]
    if R.layout == QUADRANT_LAYOUT:
        h = n // 2
        axis += [0, 1]
        line += [h, h]
        lo += [0, h]
        hi += [h, n]
    elif R.layout == ROOMS_LAYOUT:
        n_rooms = np.random.randint(R.rooms_min, R.rooms_max + 1)
        for _ in range(n_rooms - 1):
            if not grow_wall(axis, line, lo, hi):
                return empty_walls()
    axis_a, line_a = np.array(axis), np.array(line)
    lo_a, hi_a = np.array(lo), np.array(hi)
    door = np.full(len(axis), -1)
    if R.layout == QUADRANT_LAYOUT:
        n_doors = np.random.randint(R.doors_min, R.doors_max + 1)
        skip = np.random.randint(4, 6) if n_doors == 1 else -1  # the room wall with no door
        for k in (4, 5):
            if k != skip:
                door[k] = np.random.randint(lo_a[k] + 1, hi_a[k] - DOOR_CELLS)
    for k in range(4, len(axis)):
        if R.layout == ROOMS_LAYOUT:
            door[k] = choose_door(k, axis_a, line_a, lo_a, hi_a)
            if door[k] < 0:
                return empty_walls()
    outer = np.random.random() < R.outer_walls
    return axis_a, line_a, lo_a, hi_a, door, outer


@njit(cache=True)
def empty_walls():
    e = np.zeros(0, np.int64)
    return e, e, e, e, e, False


@njit(cache=True)
def grow_wall(axis, line, lo, hi):
    """Add one wall: from a random point of a random wall, perpendicular to it, to the first wall
    it meets. Rejected if it would run closer than MIN_ROOM_CELLS to a parallel wall beside it.
    Up to 10 tries (paper); returns False if none fits."""
    for _ in range(10):
        k = np.random.randint(0, len(axis))
        if hi[k] - lo[k] < 2 * MIN_ROOM_CELLS:
            continue
        p = np.random.randint(lo[k] + MIN_ROOM_CELLS, hi[k] - MIN_ROOM_CELLS + 1)
        d = 1 if np.random.random() < 0.5 else -1  # which side of wall k it grows into
        stop = -1
        for u in range(len(axis)):  # the nearest wall parallel to k, ahead, that spans p
            ahead = (line[u] - line[k]) * d
            if axis[u] == axis[k] and ahead > 0 and lo[u] < p < hi[u]:
                if stop < 0 or ahead < abs(stop - line[k]):
                    stop = line[u]
        if stop < 0:
            continue  # k is a frame wall and we looked outward
        a, b = min(line[k], stop), max(line[k], stop)
        fits = True
        for u in range(len(axis)):  # parallel walls beside it must keep a room's width away
            beside = axis[u] != axis[k] and lo[u] < b and a < hi[u]  # parallel, overlapping
            if beside and abs(line[u] - p) < MIN_ROOM_CELLS:
                fits = False
        if fits:
            axis.append(1 - axis[k])
            line.append(p)
            lo.append(a)
            hi.append(b)
            return True
    return False


@njit(cache=True)
def choose_door(k, axis, line, lo, hi):
    """Start cell of a door in wall k: uniform over the places where 2 cells fit between two
    junctions (where other walls meet k) with a cell to spare on each side; -1 if none."""
    stops = [lo[k], hi[k]]
    for u in range(len(axis)):
        meets_k = axis[u] != axis[k] and (lo[u] == line[k] or hi[u] == line[k])
        if meets_k and lo[k] < line[u] < hi[k]:
            stops.append(line[u])
    stops_a = np.sort(np.array(stops))
    choices = 0
    for s in range(len(stops_a) - 1):
        choices += max(0, stops_a[s + 1] - stops_a[s] - DOOR_CELLS - 1)
    if choices == 0:
        return -1
    pick = np.random.randint(0, choices)
    for s in range(len(stops_a) - 1):
        places = max(0, stops_a[s + 1] - stops_a[s] - DOOR_CELLS - 1)
        if pick < places:
            return stops_a[s] + 1 + pick
        pick -= places
    return -1


@njit(cache=True)
def wall_edges(n, axis, line, lo, hi, door):
    """The grid edges the inner walls block (doors left open): vert[x, j] is the edge on the
    vertical line x between y = j and j + 1; horiz[i, y] the edge on line y between x = i, i+1."""
    vert = np.zeros((n + 1, n), np.bool_)
    horiz = np.zeros((n, n + 1), np.bool_)
    for k in range(4, len(axis)):
        for c in range(lo[k], hi[k]):
            if door[k] <= c < door[k] + DOOR_CELLS:
                continue
            if axis[k] == 0:
                vert[line[k], c] = True
            else:
                horiz[c, line[k]] = True
    return vert, horiz


@njit(cache=True)
def write_walls(axis, line, lo, hi, door, outer, walls, wall_height):
    """Walls as physics slabs (centre x, y, half length, half thickness, angle), 0.1 m thick,
    centred on their grid line. A wall end at a junction reaches half a thickness past it, as
    physics.place_wall does, so corners close; a wall end at a door stops at the door's edge,
    so the door is exactly 2 cells wide. A door splits its wall into two slabs."""
    t = physics.WALL_THICKNESS
    m = 0
    for k in range(len(axis)):
        if k < 4 and not outer:
            continue
        height = physics.OUTER_WALL_HEIGHT if k < 4 else INNER_WALL_HEIGHT
        pieces = [(lo[k] * CELL - t / 2, hi[k] * CELL + t / 2)]
        if door[k] >= 0:
            pieces = [(lo[k] * CELL - t / 2, door[k] * CELL),
                      ((door[k] + DOOR_CELLS) * CELL, hi[k] * CELL + t / 2)]
        for a, b in pieces:
            centre, across = (a + b) / 2, line[k] * CELL
            x, y, heading = (across, centre, math.pi / 2) if axis[k] == 0 else (centre, across, 0.0)
            walls[m, 0], walls[m, 1], walls[m, 4] = x, y, heading
            walls[m, 2], walls[m, 3] = (b - a) / 2, t / 2
            wall_height[m] = height
            m += 1


@njit(cache=True)
def place_bodies(R, vert, horiz, kind, team, half, pos, angle, lockable):
    """Draw this episode's counts and place every body on free cells: boxes (long ones first),
    ramps, hiders, seekers; largest first, so the jam-prone ones get the most room. Slots: hiders
    [0, max hiders), seekers after them, then boxes, then ramps. False if something did not fit."""
    n = R.cells
    A = R.hiders_max + R.seekers_max
    kind[:] = EMPTY  # clear what a failed attempt left behind
    team[:] = NO_TEAM
    lockable[:] = False
    half[:] = 0.0
    pos[:] = 0.0
    angle[:] = 0.0
    occupied = np.zeros((n, n), np.bool_)
    n_boxes = np.random.randint(R.boxes_min, R.boxes_max + 1)
    n_long = np.random.randint(R.long_min, min(R.long_max, n_boxes) + 1)
    n_long_along_x = np.random.randint(0, n_long + 1)  # paper: how many long boxes lie along x
    for k in range(n_boxes):
        long_box, along_x = k < n_long, k < n_long_along_x
        fx, fy = (9, 2) if along_x else (2, 9)
        if not long_box:
            fx, fy = 3, 3
        i, j = find_spot(R, occupied, vert, horiz, fx, fy, R.box_spawn, -1, -1)
        if i < 0:
            return False
        hx, hy = LONG_HALF if long_box else CUBE_HALF
        put(kind, half, pos, angle, A + k, BOX, hx, hy, i, j, fx, fy,
            0.0 if along_x or not long_box else math.pi / 2)
        lockable[A + k] = True
    for k in range(R.ramps):
        i, j = find_spot(R, occupied, vert, horiz, 3, 3, R.ramp_spawn, -1, -1)
        if i < 0:
            return False
        slot = A + R.boxes_max + k
        heading = np.random.randint(0, 4) * math.pi / 2  # uphill along +x, +y, -x or -y
        if R.ramp_spawn == WALL:  # uphill toward the wall behind it: +x to wall 4, -y to wall 5
            heading = 0.0 if j < R.cells // 2 else -math.pi / 2
            if R.ramp_turn > 0 and np.random.random() < R.ramp_turn:  # no draw at 0: the
                heading += np.random.randint(1, 4) * math.pi / 2  # layouts stay as they were
        put(kind, half, pos, angle, slot, RAMP, RAMP_HALF[0], RAMP_HALF[1], i, j, 3, 3, heading)
        lockable[slot] = R.lock_ramps
    teams = ((HIDERS, 0, R.hiders_min, R.hiders_max, R.hider_spawn),
             (SEEKERS, R.hiders_max, R.seekers_min, R.seekers_max, R.seeker_spawn))
    for member_of, first_slot, count_min, count_max, spawn in teams:
        first_i, first_j = -1, -1
        for k in range(np.random.randint(count_min, count_max + 1)):
            i, j = find_spot(R, occupied, vert, horiz, 2, 2, spawn, first_i, first_j)
            if i < 0:
                return False
            if k == 0:
                first_i, first_j = i, j
            r = R.agent_radius
            put(kind, half, pos, angle, first_slot + k, AGENT, r, r, i, j, 2, 2,
                np.random.uniform(-math.pi, math.pi))
            team[first_slot + k] = member_of
    return True


@njit(cache=True)
def put(kind, half, pos, angle, slot, body_kind, hx, hy, i, j, fx, fy, heading):
    """A body of footprint fx x fy cells with lower-left cell (i, j), centred in it."""
    kind[slot] = body_kind
    half[slot, 0], half[slot, 1] = hx, hy
    pos[slot, 0], pos[slot, 1] = (i + fx / 2) * CELL, (j + fy / 2) * CELL
    angle[slot] = heading


@njit(cache=True)
def find_spot(R, occupied, vert, horiz, fx, fy, spawn, anchor_i, anchor_j):
    """Lower-left cell of a free fx x fy footprint in the spawn region (rejection sampling, 100
    tries; the paper uses 10 per object and restarts), marked occupied; (-1, -1) if none."""
    n, h = R.cells, R.cells // 2
    i_lo, i_hi, j_lo, j_hi = 0, n - fx, 0, n - fy  # inclusive ranges of the lower-left cell
    if spawn == ROOM:
        i_lo, j_hi = h, h - fy
    elif spawn == TOGETHER and anchor_i >= 0:
        i_lo, i_hi = max(0, anchor_i - TOGETHER_CELLS), min(n - fx, anchor_i + TOGETHER_CELLS)
        j_lo, j_hi = max(0, anchor_j - TOGETHER_CELLS), min(n - fy, anchor_j + TOGETHER_CELLS)
    elif spawn == WALL:  # outside the room, `gap` cells left of wall 4 or above wall 5
        gap = R.ramp_gap_min
        if R.ramp_gap_max > gap:  # no draw for a fixed gap, so those layouts stay as they were
            gap = np.random.randint(R.ramp_gap_min, R.ramp_gap_max + 1)
        i_lo, i_hi, j_lo, j_hi = wall_cells(n, fx, fy, gap, np.random.randint(0, 2))
    if i_hi < i_lo or j_hi < j_lo:
        return -1, -1  # the region is smaller than the footprint
    for _ in range(100):
        i, j = np.random.randint(i_lo, i_hi + 1), np.random.randint(j_lo, j_hi + 1)
        if spawn == OUTSIDE and i + fx > h and j < h:
            continue  # overlaps the room
        if footprint_is_free(occupied, vert, horiz, i, j, fx, fy):
            occupied[i:i + fx, j:j + fy] = True
            return i, j
    return -1, -1


@njit(cache=True)
def wall_cells(n, fx, fy, gap, side):
    """Inclusive ranges (i_lo, i_hi, j_lo, j_hi) of the lower-left cell of an fx x fy ramp
    standing `gap` cells short of the quadrant room's wall from outside, uphill toward it, on an
    n x n grid: left of wall 4 (side 0, going up along +x) or above wall 5 (side 1, along -y),
    anywhere along that wall. `find_spot` draws the game's wall ramps from it, and
    `handmade.wall_ramp_position` the forts' (`handmade.close_doors`' wall_ramp)."""
    h = n // 2
    if side == 0:
        return h - fx - gap, h - fx - gap, 0, h - fy
    return h, n - fx, h + gap, h + gap


@njit(cache=True)
def footprint_is_free(occupied, vert, horiz, i, j, fx, fy):
    """No body on the cells and no wall crossing the footprint's inside."""
    if occupied[i:i + fx, j:j + fy].any():
        return False
    if vert[i + 1:i + fx, j:j + fy].any() or horiz[i:i + fx, j + 1:j + fy].any():
        return False
    return True


def new_layouts(world, which, rules, seeds):
    """Replace worlds `which` of `world` by fresh layouts, in place (vectorised over worlds)."""
    W, B = len(which), world.kind.shape[1]
    fresh = physics.make_world(W, B, world.holding.shape[1], world.walls.shape[1])
    ok = generate_layouts(rules, seeds, fresh.kind, fresh.team, fresh.half, fresh.pos,
                          fresh.angle, fresh.lockable, fresh.walls, fresh.wall_height)
    if not ok.all():
        raise RuntimeError(f"no layout fitted in 50 attempts for seeds {seeds[~ok][:3]}: "
                           "the preset holds too many bodies for its arena")
    for field in physics.World._fields:  # every field, so nothing of the old episode survives
        getattr(world, field)[which] = getattr(fresh, field)


# ---------------------------------------------------------------------------------------------
# 3. Vision and rewards (numpy, vectorised over worlds and agents)
# ---------------------------------------------------------------------------------------------

CONE_HALF_ANGLE = math.radians(135 / 2)  # the paper's 135-degree cone, 67.5 degrees each side
#
#              67.5 deg  /        b is in a's cone when the angle between a's heading and the
#                       /  b      direction a -> b is at most 67.5 degrees, i.e.
#      a  o -------->  +           heading . (b - a) >= |b - a| cos(67.5 deg).
#         heading       \         No range limit; line of sight (physics.sense) does the rest.
#                        \


def vision(world, sight):
    """visible [W, A, B]: agent a sees body b (in its cone, in line of sight, both real)."""
    A = world.holding.shape[1]
    x, y = world.pos[..., 0], world.pos[..., 1]  # [W, B]
    dx, dy = x[:, None, :] - x[:, :A, None], y[:, None, :] - y[:, :A, None]  # [W, A, B]
    heading = world.angle[:, :A, None]  # [W, A, 1]
    ahead = dx * np.cos(heading) + dy * np.sin(heading)  # [W, A, B]
    in_cone = ahead >= np.hypot(dx, dy) * math.cos(CONE_HALF_ANGLE)  # [W, A, B]
    real = world.kind != EMPTY  # [W, B]
    return sight & in_cone & real[:, :A, None] & real[:, None, :]  # [W, A, B]


def team_rewards(visible, team):
    """The paper's team reward: hiders +1 when no seeker sees any hider, else -1; seekers the
    opposite; padding slots 0. visible [W, A, B], team [W, A] -> rewards [W, A], seen [W]."""
    A = team.shape[1]
    seeker_sees_hider = (visible[:, :, :A] & (team[:, :, None] == SEEKERS)
                         & (team[:, None, :] == HIDERS))  # [W, A (seeker), A (hider)]
    seen = seeker_sees_hider.any(axis=(1, 2))  # [W]
    hider_reward = np.where(seen, -1.0, 1.0)[:, None]  # [W, 1]
    rewards = np.where(team == HIDERS, hider_reward, np.where(team == SEEKERS, -hider_reward, 0.0))
    return rewards, seen


def penalties(world, rewards, real_agent, low, high, objects_bounded):
    """Out of bounds, as the paper: -10 replaces the reward of an agent whose centre leaves the
    square [low, high]^2; if objects_bounded, every agent gets -10 while a box or ramp is out."""
    A = real_agent.shape[1]
    out = ((world.pos < low) | (world.pos > high)).any(-1)  # [W, B]
    if objects_bounded:
        objects_out = (out[:, A:] & (world.kind[:, A:] != EMPTY)).any(-1)  # [W]
        rewards = np.where(objects_out[:, None] & real_agent, PENALTY, rewards)
    return np.where(out[:, :A] & real_agent, PENALTY, rewards)  # [W, A]


# ---------------------------------------------------------------------------------------------
# 4. Observations: one feature table per entity type, plus masks
# ---------------------------------------------------------------------------------------------

# Feature columns (the contract attention.py reads). Positions and velocities are absolute,
# in the world frame, as in the paper; the network makes them relative by joining each entity to
# the agent's own row.
AGENT_FEATURES = ("x", "y", "z (feet height)", "cos heading", "sin heading", "vx", "vy", "vz",
                  "spin", "team flag (1 hider, 0 seeker)", "preparation progress (0..1)")
OBJECT_FEATURES = ("x", "y", "z (bottom)", "cos angle", "sin angle", "vx", "vy", "vz", "spin",
                   "size x", "size y", "size z", "locked by my team", "locked by the other team",
                   "locked")
N_LIDAR = physics.N_LIDAR
DOOR_FEATURES = ("x", "y", "in a vertical wall (1) or a horizontal one (0)", "a door is here")


def agent_table(world, progress):
    """[W, A, 11] the features of every agent slot (zeros for padding). progress [W]."""
    A = world.holding.shape[1]
    W = world.kind.shape[0]
    angle = world.angle[:, :A]
    columns = [world.pos[:, :A], world.z[:, :A, None], np.cos(angle)[..., None],
               np.sin(angle)[..., None], world.vel[:, :A], world.vz[:, :A, None],
               world.spin[:, :A, None], (world.team[:, :A] == HIDERS)[..., None],
               np.broadcast_to(progress[:, None, None], (W, A, 1))]
    table = np.concatenate(columns, -1, dtype=np.float32)  # [W, A, 11]
    return table * (world.kind[:, :A] == AGENT)[..., None]


def object_table(world, team):
    """[W, A, O, 15] the features of every object slot (O = B - A) as agent a sees them: the lock
    flags depend on the observer's team. Zeros for padding slots."""
    A = world.holding.shape[1]
    angle = world.angle[:, A:]  # [W, O]
    W, O = angle.shape
    height = np.full_like(angle, physics.Physics().object_height)
    common = np.concatenate([world.pos[:, A:], world.z[:, A:, None], np.cos(angle)[..., None],
                             np.sin(angle)[..., None], world.vel[:, A:], world.vz[:, A:, None],
                             world.spin[:, A:, None], 2 * world.half[:, A:],
                             height[..., None]], -1, dtype=np.float32)  # [W, O, 12]
    common *= (world.kind[:, A:] != EMPTY)[..., None]  # padding slots read 0
    owner = world.locked_by[:, None, A:]  # [W, 1, O]
    locked = owner != NO_TEAM  # [W, 1, O], never for padding
    mine = locked & (owner == team[:, :, None])  # [W, A, O]
    table = np.empty((W, A, O, len(OBJECT_FEATURES)), np.float32)
    table[..., :12] = common[:, None]  # the same for every observer
    table[..., 12], table[..., 13], table[..., 14] = mine, locked & ~mine, locked
    return table  # [W, A, O, 15]


def others(n_agents):
    """[A, A-1] slot of the k-th other agent of agent i: i+1, i+2, ... circularly (the paper's
    order), so each agent sees its team-mates and opponents in a fixed order relative to itself."""
    i = np.arange(n_agents)[:, None]
    return (i + 1 + np.arange(n_agents - 1)[None, :]) % n_agents


def observe(world, lidar, visible, progress, n_boxes):
    """The observation dict, every array [W, A, ...] (contract: float32 features, bool masks).

    | key            | shape            | contents                                          |
    |----------------|------------------|---------------------------------------------------|
    | self           | [W, A, 11]       | AGENT_FEATURES of the agent itself                |
    | agents         | [W, A, A-1, 11]  | the other agents, i+1, i+2, ... circularly        |
    | boxes, ramps   | [W, A, E, 15]    | OBJECT_FEATURES (lock flags from my team's side)  |
    | lidar          | [W, A, 30]       | ranges in m, world-frame rays every 12 degrees    |
    | visible_*      | [W, A, E] bool   | policy mask: in my cone and line of sight         |
    | exists_*       | [W, A, E] bool   | critic mask: the slot holds a real entity         |

    HideAndSeek.observe adds "doors" [W, A, doors * 4] where it was made with observe_doors
    (`door_table`; not the paper's)."""
    A = world.holding.shape[1]
    team = np.where(world.kind[:, :A] == AGENT, world.team[:, :A], NO_TEAM)  # [W, A]
    agents = agent_table(world, progress)  # [W, A, 11]
    objects = object_table(world, team)  # [W, A, O, 15]
    real = world.kind != EMPTY  # [W, B]
    order = others(A)  # [A, A-1]
    rows = np.arange(A)[:, None]
    obs = {"self": agents, "agents": agents[:, order], "lidar": lidar.astype(np.float32),
           "visible_agents": visible[:, rows, order], "exists_agents": real[:, order]}
    W = world.kind.shape[0]
    for kind, part in (("boxes", slice(0, n_boxes)), ("ramps", slice(n_boxes, None))):
        obs[kind] = objects[:, :, part]  # [W, A, E, 15]
        obs["visible_" + kind] = visible[:, :, A:][:, :, part]  # [W, A, E]
        exists = real[:, A:][:, part]
        obs["exists_" + kind] = np.broadcast_to(exists[:, None], (W, A, exists.shape[1])).copy()
    obs["exists_agents"] = obs["exists_agents"].copy()
    return obs


# ---------------------------------------------------------------------------------------------
# 4b. Forts: can a seeker still walk to a hider?
# ---------------------------------------------------------------------------------------------
# The paper's figure 3 counts boxes moved and locked; whether they make a fort is read from the
# GIFs. This statistic asks it directly, at the end of the preparation phase (and again after
# the episode's last step: did the fort hold?): on a grid of SEAL_CELL cells over the floor (and
# a margin around it, for games without outer walls), a cell is blocked when its centre lies
# within an agent's radius of a wall or a box, so an agent's centre can stand only on free
# cells; a flood fill from every hider's cell then either reaches a seeker's cell or not. Ramps
# do not block (they are climbed), and nor do agents. A cube pushed into the 0.4 m doorway
# seals the room because the gaps it leaves are narrower than an agent.

SEAL_CELL = 0.05  # m, fine enough that the 0.1 m of a doorway an agent's centre may cross shows
SEAL_MARGIN = 0.5  # m of floor beyond the arena's edge on every side


@njit(cache=True)
def hiders_sealed_off(kind, team, pos, half, angle, walls, wall_height, n_agents, arena,
                      radius):
    """bool [W]: in world w, no seeker can walk to any hider (and both teams are present)."""
    W = kind.shape[0]
    n = int(round((arena + 2 * SEAL_MARGIN) / SEAL_CELL))
    N = n + 2  # the fill runs on the grid with a ring of blocked cells around it, flattened:
    # cell (i, j) is i * N + j, its neighbours are +-1 and +-N, and none of them is off the grid
    out = np.zeros(W, np.bool_)
    blocked = np.zeros((n, n), np.bool_)
    free = np.zeros(N * N, np.bool_)  # not blocked and not yet reached by the fill
    goal = np.zeros(N * N, np.bool_)  # next to a seeker
    queue = np.zeros(N * N, np.int64)  # cells in the order the fill reaches them
    for w in range(W):
        blocked[:] = False
        for m in range(walls.shape[1]):
            if wall_height[w, m] > 0:
                block_rectangle(blocked, walls[w, m, 0], walls[w, m, 1], walls[w, m, 2],
                                walls[w, m, 3], walls[w, m, 4], radius)
        for b in range(n_agents, kind.shape[1]):
            if kind[w, b] == BOX:
                block_rectangle(blocked, pos[w, b, 0], pos[w, b, 1], half[w, b, 0],
                                half[w, b, 1], angle[w, b], radius)
        for i in range(n):
            for j in range(n):
                free[(i + 1) * N + j + 1] = not blocked[i, j]
        goal[:] = False
        tail = 0
        has_hider = has_seeker = False
        for a in range(n_agents):  # the fill starts from the free cells next to a hider (one
            if kind[w, a] != AGENT:  # touching two walls stands on a blocked cell); it is done
                continue  # when it reaches a cell next to a seeker (the same reason)
            has_hider |= team[w, a] == HIDERS
            has_seeker |= team[w, a] == SEEKERS
            centre = (grid_cell(pos[w, a, 0], n) + 1) * N + grid_cell(pos[w, a, 1], n) + 1
            for k in (centre - N - 1, centre - N, centre - N + 1, centre - 1, centre,
                      centre + 1, centre + N - 1, centre + N, centre + N + 1):
                if team[w, a] == SEEKERS:
                    goal[k] = True
                elif team[w, a] == HIDERS and free[k]:
                    free[k] = False
                    queue[tail] = k
                    tail += 1
        head, reached = 0, False  # from the hiders, not the seekers: when they are sealed in,
        while head < tail and not reached:  # the fill covers their room, not the whole floor
            k = queue[head]
            head += 1
            reached = goal[k]
            for m in (k + 1, k - 1, k + N, k - N):
                if free[m]:
                    free[m] = False
                    queue[tail] = m
                    tail += 1
        out[w] = has_hider and has_seeker and not reached
    return out


@njit(cache=True)
def grid_cell(x, n):
    """The cell of the sealing grid that holds coordinate x (clamped to the grid)."""
    return min(n - 1, max(0, int((x + SEAL_MARGIN) / SEAL_CELL)))


@njit(cache=True)
def block_rectangle(blocked, cx, cy, hx, hy, heading, radius):
    """Block every cell whose centre is within `radius` of the rectangle (centre, half extents
    along its own axes, heading): the places an agent's centre cannot be."""
    n = blocked.shape[0]
    c, s = math.cos(heading), math.sin(heading)
    ex = abs(c) * hx + abs(s) * hy + radius  # half extents of the grid-aligned box around it:
    ey = abs(s) * hx + abs(c) * hy + radius  # only cells in there can be blocked (a 6 m wall
    for i in range(grid_cell(cx - ex, n), grid_cell(cx + ex, n) + 1):  # visits a strip of
        x = (i + 0.5) * SEAL_CELL - SEAL_MARGIN - cx  # cells, not a 6 x 6 m square)
        for j in range(grid_cell(cy - ey, n), grid_cell(cy + ey, n) + 1):
            y = (j + 0.5) * SEAL_CELL - SEAL_MARGIN - cy
            qx = abs(c * x + s * y) - hx  # the cell centre in the rectangle's frame, minus
            qy = abs(-s * x + c * y) - hy  # its half extents: > 0 outside along that axis
            d2 = max(qx, 0.0) ** 2 + max(qy, 0.0) ** 2
            if d2 < radius * radius:
                blocked[i, j] = True


# ---------------------------------------------------------------------------------------------
# 4c. Doors: where the quadrant room opens, and where a cube closes it
# ---------------------------------------------------------------------------------------------
# A door is the gap between the two slabs of one inner wall (write_walls splits a wall there), so
# it can be read back from any world's walls. `fort_positions` says where cubes stand when they
# close the doors from inside the quadrant room (x > arena / 2, y < arena / 2): flush against
# the wall's inner face, centred on the door, a 0.5 m cube over a 0.4 m gap. The statistics
# below measure from there; handmade.py builds forts there (start states for the curriculum).

def find_doors(walls, wall_height):
    """The doors of one world: a list of (x, y, axis) door centres in m, axis 0 for a door in a
    vertical wall (the gap runs along y), 1 in a horizontal one. Walls [M, 5] and heights [M] as
    in physics.World; only inner walls (slots 4 and up) have doors."""
    slabs = [m for m in range(4, len(walls)) if wall_height[m] > 0]
    doors = []
    for i, a in enumerate(slabs):
        for b in slabs[i + 1:]:
            (xa, ya, la, _, ha), (xb, yb, lb, _, hb) = walls[a], walls[b]
            axis = 0 if abs(math.sin(ha)) > 0.5 else 1
            if abs(ha - hb) > 1e-6:
                continue
            across, along = ((xa, xb), (ya, yb)) if axis == 0 else ((ya, yb), (xa, xb))
            if abs(across[0] - across[1]) > 1e-6:  # parallel, but not on one line
                continue
            low, high = sorted([(along[0], la), (along[1], lb)])
            gap = (low[0] + low[1], high[0] - high[1])  # the lower slab's end, the upper's start
            if abs(gap[1] - gap[0] - DOOR_CELLS * CELL) < 1e-6:
                centre = (gap[0] + gap[1]) / 2
                doors.append((across[0], centre, 0) if axis == 0 else (centre, across[0], 1))
    return doors


FORT_INSET = physics.WALL_THICKNESS / 2 + CUBE_HALF[0] + 0.01  # m from a wall's line to the
# centre of a cube flush against it (1 cm play)


def fort_positions(doors, arena, back=0.0):
    """[len(doors), 2]: where a cube's centre stands to close each door of the quadrant room from
    inside: the room lies on the +x side of its vertical wall and the -y side of its horizontal
    one. With `back` (m), that far farther into the room, straight back from the door: a fort
    left to finish."""
    inset = FORT_INSET + back
    spots = []
    for x, y, axis in doors:
        on_room_wall = abs((x if axis == 0 else y) - arena / 2) < 1e-6
        if not on_room_wall:
            raise ValueError(f"a door at ({x:.2f}, {y:.2f}) is not in a wall of the quadrant room")
        spots.append((x + inset, y) if axis == 0 else (x, y - inset))
    return np.array(spots).reshape(-1, 2)


# ---------------------------------------------------------------------------------------------
# 5. The batched env
# ---------------------------------------------------------------------------------------------

STAT_KEYS = ("max_box_move_prep", "max_box_move", "max_ramp_move_prep", "max_ramp_move",
             "num_box_lock_prep", "num_box_lock", "num_ramp_lock_prep", "num_ramp_lock",
             "hiders_sealed_prep", "hiders_sealed", "box_unlocks")  # the paper's figure 3, and
# ours: a fort when preparation ends, whether it still stands at the episode's last step
# (section 4b), and how many times a box was unlocked after preparation (by the team that locked
# it, the only one that may: a fort's box unlocked is a box its own hiders can drag away)


class HideAndSeek:
    """W hide-and-seek worlds stepped together; each world resets itself when its episode ends.

    | Symbol        | Shape / type      | Description                                           |
    |---------------|-------------------|-------------------------------------------------------|
    | preset        | str or Preset     | a name in PRESETS, or a Preset (dataclasses.replace)   |
    | reset()       | -> obs            | dict of arrays [W, A, ...], see `observe`              |
    | step(actions) | int [W, A, 5]     | x-force bin, y-force bin, torque bin (0..10), grab, lock |
    |  -> rewards   | float32 [W, A]    | this step's reward per agent (0 for padding slots)     |
    |  -> dones     | bool [W]          | the episode ended; obs is already the next episode's   |
    |  -> info      | dict              | info["episodes"]: statistics of the episodes that ended |
    | team          | int8 [W, A]       | 0 hider, 1 seeker, -1 padding slot                     |
    | agent_exists  | bool [W, A]       | False for padding slots: they never act, get 0 reward  |
    | snapshot(w)   | -> physics.World  | copies of worlds w's physical rows (walls included)    |
    | restore(w, s) |                   | new episodes in worlds w from rows s, bodies at rest   |
    | replayed      | bool [W]          | the episode under way began from `restore`             |

    The end of an episode is terminal: nothing in the observation says how much time is left
    after the preparation phase, and the paper's episodes simply stop, so training should not
    bootstrap past `dones`. With auto_reset=False (the PettingZoo face uses it) an ended world
    waits for reset() and `obs` is its last observation.
    """

    def __init__(self, preset="quadrant", n_worlds=1, seed=None, auto_reset=True,
                 observe_doors=False):
        if not isinstance(n_worlds, (int, np.integer)) or n_worlds < 1:
            raise ValueError(f"n_worlds must be a positive int, got {n_worlds!r}")
        self.preset = get_preset(preset)
        if observe_doors and self.preset.layout != "quadrant":
            raise ValueError(f"observe_doors tells the agents where the quadrant room's doors "
                             f"are; preset {self.preset.name!r} has layout "
                             f"{self.preset.layout!r}, expected 'quadrant'")
        self.observe_doors = bool(observe_doors)
        self.rules = rules_of(self.preset)
        self.n_worlds, self.auto_reset = int(n_worlds), auto_reset
        self.n_agents = max_agents(self.preset)  # A, padding slots included
        self.n_boxes, self.n_ramps = self.preset.boxes[1], self.preset.ramps
        self.n_bodies = self.n_agents + self.n_boxes + self.n_ramps  # B
        self.prep_steps = math.floor(self.preset.prep_fraction * self.preset.horizon + 1e-9)
        arena, margin = self.preset.arena, self.preset.bounds_margin
        self.bounds = (-margin, arena + margin)  # the out-of-bounds square [low, high]^2
        self.entity_counts = {"agents": self.n_agents - 1, "boxes": self.n_boxes,
                              "ramps": self.n_ramps}
        self.obs_sizes = {"self": len(AGENT_FEATURES), "agents": len(AGENT_FEATURES),
                          "boxes": len(OBJECT_FEATURES), "ramps": len(OBJECT_FEATURES),
                          "lidar": N_LIDAR}  # what attention.ActorCritic is built from
        self.obs_shapes = {"self": (self.obs_sizes["self"],), "lidar": (N_LIDAR,)}
        if self.observe_doors:  # not the paper's: see door_table
            self.obs_sizes["doors"] = self.preset.doors[1] * len(DOOR_FEATURES)
            self.obs_shapes["doors"] = (self.obs_sizes["doors"],)
        for kind, count in self.entity_counts.items():
            self.obs_shapes[kind] = (count, self.obs_sizes[kind])
            self.obs_shapes["visible_" + kind] = self.obs_shapes["exists_" + kind] = (count,)
        self.world = physics.make_world(self.n_worlds, self.n_bodies, self.n_agents,
                                        n_wall_slots(self.preset))
        self.timing = dict.fromkeys(("physics", "sense", "observations", "rest"), 0.0)
        # The settings of handmade.py's start states, kept here so that they are pickled with the
        # worlds and a resumed run keeps them (each set by the handmade.set_* of its name):
        self.cube_gaps = (0, 0)  # cells a fort left to finish has its cube back
        self.fort_ramp_gaps = (0, 0)  # cells a fort's wall ramp stands short of the wall
        self.fort_ramp_turn = 0.0  # the share of those ramps turned from facing the wall
        self.ramp_walks = (0, 0)  # cells a hider placed beside a ramp starts farther out
        self.walk_door_share = 0.0  # the share of those hiders put on the ramp's door side
        self.reset(seed)

    # -- the two calls a trainer makes ----------------------------------------------------------

    def __setstate__(self, state):
        """Unpickling (selfplay.py's checkpoints hold the worlds): a world pickled by an older
        env.py lacks the statistics added since; they start at 0 for the episodes under way."""
        self.__dict__.update(state)
        self.__dict__.setdefault("replayed", np.zeros(self.n_worlds, bool))
        self.__dict__.setdefault("door_fort", np.zeros(self.n_worlds, bool))
        self.__dict__.setdefault("box_unlocks", np.zeros(self.n_worlds, np.int64))
        self.__dict__.setdefault("seeker_in_room", np.zeros(self.n_worlds, bool))
        self.__dict__.setdefault("ramp_gap", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("door_cube", np.zeros(self.n_worlds, bool))
        self.__dict__.setdefault("cube_gap", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("door_ramp", np.zeros(self.n_worlds, bool))
        self.__dict__.setdefault("door_ramp_gap", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("ramp_hider", np.zeros(self.n_worlds, bool))
        self.__dict__.setdefault("cube_gaps", (0, 0))
        self.__dict__.setdefault("fort_ramp_gaps", (0, 0))
        self.__dict__.setdefault("fort_ramp_turn", 0.0)
        self.__dict__.setdefault("ramp_walks", (0, 0))
        self.__dict__.setdefault("ramp_walk", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("walk_door_share", 0.0)
        self.__dict__.setdefault("walk_door_side", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("cube_home", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("cube_bearing", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("ramp_room_prep", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("ramp_facing_prep", np.full(self.n_worlds, np.nan))
        self.__dict__.setdefault("observe_doors", False)
        for key in STAT_KEYS:
            if key.endswith("_prep"):
                self.prep_stats.setdefault(key, np.zeros(self.n_worlds))

    def reset(self, seed=None):
        """New episodes in every world (a new random stream if seed is given). Returns obs."""
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)
        W = self.n_worlds
        self.t = np.zeros(W, np.int64)  # steps taken in the current episode
        self.returns = np.zeros((W, self.n_agents))  # reward summed over the episode
        self.seeker_height = np.zeros(W)  # highest a seeker's feet have been, m
        self.seeker_in_room = np.zeros(W, bool)  # a seeker has stood in the quadrant room
        self.box_unlocks = np.zeros(W, np.int64)  # boxes unlocked after preparation
        self.replayed = np.zeros(W, bool)  # the episode began from a `restore`d state
        # ... from one of handmade.py's start states (they set these):
        self.door_fort = np.zeros(W, bool)  # ... a fort already built (`close_doors`)
        self.door_cube = np.zeros(W, bool)  # ... a fort left to finish (`close_doors`)
        self.cube_gap = np.full(W, np.nan)  # how far (m) that fort's cube stood back from the door
        self.door_ramp = np.zeros(W, bool)  # ... the ramp outside the door (`ramps_to_doors`)
        self.door_ramp_gap = np.full(W, np.nan)  # how far (m) that ramp stood from the wall
        self.ramp_hider = np.zeros(W, bool)  # ... a hider beside the ramp (`hiders_to_ramps`)
        self.ramp_walk = np.full(W, np.nan)  # how far (m) that hider stood out from beside it
        self.walk_door_side = np.full(W, np.nan)  # 1 if it stood on the ramp's door side
        self.spawn_pos = np.zeros((W, self.n_bodies, 2))  # where each body started
        self.ramp_gap = np.full(W, np.nan)  # how far the wall ramp started short of the wall
        self.cube_home = np.full(W, np.nan)  # how far the cube started from closing the door
        self.cube_bearing = np.full(W, np.nan)  # ... and in which direction (degrees)
        self.ramp_room_prep = np.full(W, np.nan)  # how far (m) the ramp stood from the room
        # when preparation ended, and whether it faced it uphill (cosine)
        self.ramp_facing_prep = np.full(W, np.nan)
        self.doors = np.zeros((W, self.obs_sizes.get("doors", 0)), np.float32)  # door_table
        self.prep_stats = {key: np.zeros(W) for key in STAT_KEYS if key.endswith("_prep")}
        self.lidar = np.zeros((W, self.n_agents, N_LIDAR))
        self.visible = np.zeros((W, self.n_agents, self.n_bodies), bool)
        self.new_episodes(np.arange(W))
        return self.observe()

    def step(self, actions):
        """Advance every world one control step; the table of contents. Each phase's time is
        added to self.timing (what `--bench` prints)."""
        in_prep = self.t < self.prep_steps  # [W]
        with self.timed("rest"):  # 1. idle the padding slots, and the seekers in preparation
            actions = self.game_actions(self.checked_actions(actions), in_prep)
        with self.timed("physics"):  # 2. grab and lock see what each agent saw last step
            boxes_locked = self.boxes_locked()  # [W, n_bodies]
            physics.step(self.world, actions, self.visible)
            unlocked = boxes_locked & ~self.boxes_locked()
            self.box_unlocks += np.where(in_prep, 0, unlocked.sum(1))
        with self.timed("sense"):  # 3. lidar, and line of sight from every agent to every body
            self.lidar, sight = physics.sense(self.world)
        with self.timed("observations"):  # 4. vision = line of sight and the 135-degree cone
            self.visible = vision(self.world, sight)
        with self.timed("rest"):
            rewards = self.rewards(in_prep)  # 5. team reward, penalties, none in preparation
            self.returns += rewards
            seeker_z = np.where(self.team == SEEKERS, self.world.z[:, :self.n_agents], 0.0)
            self.seeker_height = np.maximum(self.seeker_height, seeker_z.max(1))  # [W]
            self.seeker_in_room |= self.seekers_in_room()
            self.t += 1
            self.snapshot_prep(self.t == self.prep_steps)  # 6. statistics
            dones = self.t >= self.preset.horizon  # [W]
            episodes = self.episode_stats(np.flatnonzero(dones))
            if self.auto_reset:
                self.new_episodes(np.flatnonzero(dones))  # 7. ended worlds start again
        with self.timed("observations"):
            obs = self.observe()
        return obs, rewards.astype(np.float32), dones, {"episodes": episodes}

    # -- the pieces -------------------------------------------------------------------------------

    @property
    def team(self):
        """int8 [W, A]: HIDERS (0), SEEKERS (1), or -1 for a padding slot."""
        A = self.n_agents
        return np.where(self.world.kind[:, :A] == AGENT, self.world.team[:, :A], NO_TEAM)

    @property
    def agent_exists(self):
        """bool [W, A]: the slot holds an agent this episode."""
        return self.world.kind[:, :self.n_agents] == AGENT

    @contextlib.contextmanager
    def timed(self, phase):
        start = time.perf_counter()
        yield
        self.timing[phase] += time.perf_counter() - start

    def game_actions(self, actions, in_prep):
        """The actions physics gets: the zero action for padding slots, and for seekers during
        the preparation phase (they are not pinned, they just cannot push, grab or lock)."""
        if self.auto_reset is False and (self.t >= self.preset.horizon).any():
            raise RuntimeError("an episode has ended and auto_reset is False: call reset()")
        idle = ~self.agent_exists | (in_prep[:, None] & (self.team == SEEKERS))  # [W, A]
        actions[idle] = IDLE
        return actions

    def rewards(self, in_prep):
        """[W, A] the team reward, out-of-bounds penalties replacing it, zero in preparation."""
        rewards, _ = team_rewards(self.visible, self.team)
        rewards = penalties(self.world, rewards, self.agent_exists, *self.bounds,
                            self.preset.objects_bounded)
        if self.preset.prep_fraction > 0:  # the preparation phase pays nothing, not even -10
            rewards = np.where(in_prep[:, None], 0.0, rewards)
        return rewards

    def checked_actions(self, actions):
        """int64 [W, A, 5] copy of the actions, or an error naming what is wrong."""
        actions = np.asarray(actions)
        expected = (self.n_worlds, self.n_agents, 5)
        if actions.shape != expected:
            raise ValueError(f"actions have shape {actions.shape}, expected [W, A, 5] = "
                             f"{expected} (x bin, y bin, turn bin, grab, lock)")
        if actions.dtype == bool or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions have dtype {actions.dtype}, expected an integer dtype")
        high = np.array([10, 10, 10, 1, 1])
        bad = np.argwhere((actions < 0) | (actions > high))
        if len(bad):
            w, a, k = bad[0]
            raise ValueError(f"actions[{w}, {a}, {k}] = {actions[w, a, k]} is out of range: "
                             f"{('x bin', 'y bin', 'turn bin', 'grab', 'lock')[k]} must be in "
                             f"0..{high[k]}")
        return actions.astype(np.int64)

    def new_episodes(self, which):
        """New layouts in worlds `which` (seeded from this env's random stream), then start."""
        if len(which):
            seeds = self.rng.integers(0, 2 ** 31 - 1, size=len(which))
            new_layouts(self.world, which, self.rules, seeds)
            self.start_episodes(which)

    def start_episodes(self, which):
        """Start episodes in worlds `which` from their present physical state: step 0, returns 0,
        spawn positions remembered, senses refreshed. new_episodes calls it after a new layout;
        call it yourself after arranging env.world by hand (tests, scripted scenes)."""
        which = np.asarray(which)
        self.t[which] = 0
        self.returns[which] = 0.0
        self.seeker_height[which] = 0.0
        self.seeker_in_room[which] = False
        self.box_unlocks[which] = 0
        self.replayed[which] = False
        self.door_fort[which] = self.door_cube[which] = self.door_ramp[which] = False
        self.ramp_hider[which] = False
        self.cube_gap[which] = self.door_ramp_gap[which] = self.ramp_walk[which] = np.nan
        self.walk_door_side[which] = np.nan
        self.spawn_pos[which] = self.world.pos[which]
        self.ramp_gap[which] = self.wall_ramp_gaps(which)
        self.ramp_room_prep[which] = self.ramp_facing_prep[which] = np.nan  # until
        # preparation ends (snapshot_prep)
        self.cube_home[which], self.cube_bearing[which] = self.cube_home_offsets(which)
        if self.observe_doors:
            self.doors[which] = self.door_table(which)
        part = self.world if len(which) == self.n_worlds else self.snapshot(which)
        lidar, sight = physics.sense(part)
        self.lidar[which] = lidar
        self.visible[which] = vision(part, sight)
        if self.prep_steps == 0:
            self.snapshot_prep(np.isin(np.arange(self.n_worlds), which))
        return self.observe()

    def snapshot(self, worlds):
        """The physical state of worlds `worlds` (int [n]): a physics.World of copied rows [n, ...],
        walls included. A start-state curriculum (curriculum.py) keeps these to begin episodes
        from later on."""
        return physics.world_rows(self.world, worlds)  # fancy indexing copies

    def restore(self, worlds, snapshot):
        """Begin new episodes in `worlds` from `snapshot` (rows of `snapshot(...)`, one per world):
        the walls, bodies, positions, angles, heights and locks come back; motion and grips do not
        (every body at rest, nothing held), and the episode starts at step 0 with its preparation
        phase. Those episodes are marked `replayed`: their statistics describe where the
        curriculum put the bodies, not what the policy did, and `episode_stats` says so."""
        worlds = np.asarray(worlds, np.int64)
        if not isinstance(snapshot, physics.World):
            raise ValueError(f"snapshot must be a physics.World (from snapshot()), got "
                             f"{type(snapshot).__name__}")
        for name, field, rows in zip(physics.World._fields, self.world, snapshot):
            if rows.shape != (len(worlds),) + field.shape[1:]:  # every check before any write
                raise ValueError(f"snapshot field {name} has shape {rows.shape}, expected "
                                 f"{(len(worlds),) + field.shape[1:]} for {len(worlds)} worlds of "
                                 f"this game ({self.preset.name})")
        for field, rows in zip(self.world, snapshot):
            field[worlds] = rows
        for name in ("vel", "spin", "vz", "hold_offset", "hold_angle"):
            getattr(self.world, name)[worlds] = 0.0
        self.world.holding[worlds] = -1
        self.start_episodes(worlds)
        self.replayed[worlds] = True


    def observe(self):
        progress = np.minimum(1.0, self.t / max(self.prep_steps, 1))  # [W]
        obs = observe(self.world, self.lidar, self.visible, progress, self.n_boxes)
        if self.preset.policy_sees_all:  # fully observed: the policy may attend to every entity
            for kind in self.entity_counts:
                obs["visible_" + kind] = obs["exists_" + kind].copy()
        if self.observe_doors:  # the same for every agent of a world: [W, A, doors * 4]
            obs["doors"] = np.repeat(self.doors[:, None], self.n_agents, axis=1)
        return obs

    def door_table(self, worlds):
        """float32 [len(worlds), doors * 4]: DOOR_FEATURES of each of the room's doors
        (`find_doors`, in its order), the preset's most doors of them, zeros in the slots of
        doors a layout does not have. With `observe_doors` every agent observes it ("doors").

        Not the paper's: there the agents find a door only with their lidar, 30 rays 12 degrees
        apart, which at 1.5 m pass 0.3 m apart, not much less than the 0.4 m doorway. A trial
        of whether a small network learns faster given the doors; in `ramp-room`, over 13M
        world-steps, it did not (RUNS.md, step 13)."""
        s, slots = self.world, self.preset.doors[1]
        table = np.zeros((len(worlds), slots, len(DOOR_FEATURES)), np.float32)
        for i, w in enumerate(np.asarray(worlds)):
            for k, (x, y, axis) in enumerate(find_doors(s.walls[w], s.wall_height[w])[:slots]):
                table[i, k] = (x, y, axis == 0, 1.0)
        return table.reshape(len(worlds), -1)

    def seekers_in_room(self):
        """bool [W]: a seeker's centre is in the quadrant room (x > arena / 2, y < arena / 2),
        where a seeker gets only through a door or over a wall; always False in other layouts,
        which have no one room."""
        if self.preset.layout != "quadrant":
            return np.zeros(self.n_worlds, bool)
        x, y = self.world.pos[:, :self.n_agents, 0], self.world.pos[:, :self.n_agents, 1]
        half = self.preset.arena / 2
        seekers = (self.team == SEEKERS) & self.agent_exists  # [W, A]
        return (seekers & (x > half) & (y < half)).any(1)

    def wall_ramp_gaps(self, worlds):
        """float [len(worlds)]: how far (m) the first ramp's uphill edge stands short of the
        outer face of the quadrant room's wall it faces, for a ramp as `ramp_spawn="wall"` sets
        it: left of the room (x, y < arena / 2) going up along +x toward wall 4, or above it
        (x, y > arena / 2) going up along -y toward wall 5. NaN for any other ramp, or none."""
        worlds = np.asarray(worlds)
        gaps = np.full(len(worlds), np.nan)
        if self.preset.layout != "quadrant" or not len(worlds):
            return gaps
        s, half_arena = self.world, self.preset.arena / 2
        face = physics.WALL_THICKNESS / 2
        is_ramp = s.kind[worlds] == RAMP  # [n, B]
        first = is_ramp.argmax(1)  # [n] the first ramp's slot (0 where there is none)
        x, y = s.pos[worlds, first, 0], s.pos[worlds, first, 1]  # [n]
        angle, half = s.angle[worlds, first], s.half[worlds, first, 0]  # [n]
        has = is_ramp.any(1)
        toward_4 = has & np.isclose(np.cos(angle), 1.0) & (x < half_arena) & (y < half_arena)
        toward_5 = has & np.isclose(np.sin(angle), -1.0) & (x > half_arena) & (y > half_arena)
        gaps[toward_4] = (half_arena - face - (x + half))[toward_4]
        gaps[toward_5] = ((y - half) - (half_arena + face))[toward_5]
        return gaps

    def cube_home_offsets(self, worlds):
        """(distance, bearing), float [len(worlds)] each: how far (m) the first cube's centre
        stands from the spot where it closes the quadrant room's first door from inside
        (`fort_positions`, where handmade.close_doors sets it), and in which direction, in
        degrees from straight back into the room (0) to along the door's wall (90). The
        distance is 0 in a fort built, the gap in a fort left to finish, and in the game's own
        starts how far the hiders must bring it; measured centre to centre, whatever the
        cube's heading. NaN without a quadrant room, a door in it or a cube; the bearing NaN at
        distance 0 too."""
        worlds = np.asarray(worlds)
        distances, bearings = np.full(len(worlds), np.nan), np.full(len(worlds), np.nan)
        if self.preset.layout != "quadrant":
            return distances, bearings
        s = self.world
        for i, w in enumerate(worlds):
            doors = find_doors(s.walls[w], s.wall_height[w])
            cubes = np.flatnonzero(s.kind[w] == BOX)
            if doors and len(cubes):
                offset = s.pos[w, cubes[0]] - fort_positions(doors[:1], self.preset.arena)[0]
                # into the room is +x from a door in the wall x = arena/2 (axis 0), else -y
                back, along = (offset[0], offset[1]) if doors[0][2] == 0 else (-offset[1],
                                                                               offset[0])
                distances[i] = float(np.hypot(back, along))
                if distances[i] > 0:  # a cube flush against the door's wall may stand up to
                    # 1 cm (FORT_INSET's play) nearer it than home: still 90 degrees, along it
                    bearings[i] = math.degrees(math.atan2(abs(along), max(back, 0.0)))
        return distances, bearings

    def set_ramp_gaps(self, low, high):
        """From the next layout on, the wall ramp starts `low`..`high` cells (0.2 m) short of
        the wall it faces (the preset's `ramp_gap`, checked as the preset's is): curriculum.py's
        `RampReach` moves the gaps out as the seekers learn to bring the ramp. The changed
        preset and rules are pickled with the worlds, so a resumed run keeps them."""
        preset = dataclasses.replace(self.preset, ramp_gap=(int(low), int(high)))
        check_preset(preset)
        self.preset, self.rules = preset, rules_of(preset)

    def boxes_locked(self):
        """bool [W, n_bodies]: the body is a box and some team has locked it."""
        return (self.world.kind == BOX) & (self.world.locked_by != NO_TEAM)

    def object_stats(self, worlds, kind):
        """Largest displacement from spawn and number locked, of boxes or ramps, per world."""
        s = self.world
        of_kind = s.kind[worlds] == kind  # [n, B]
        moved = np.linalg.norm(s.pos[worlds] - self.spawn_pos[worlds], axis=-1)  # [n, B]
        locked = (s.locked_by[worlds] != NO_TEAM) & of_kind
        return np.where(of_kind, moved, 0.0).max(-1, initial=0.0), locked.sum(-1)

    def snapshot_prep(self, worlds):
        """The statistics at the end of the preparation phase (paper: when prep progress hits 1)."""
        worlds = np.flatnonzero(worlds)
        if len(worlds):
            for kind, name in ((BOX, "box"), (RAMP, "ramp")):
                move, locks = self.object_stats(worlds, kind)
                self.prep_stats[f"max_{name}_move_prep"][worlds] = move
                self.prep_stats[f"num_{name}_lock_prep"][worlds] = locks
            self.prep_stats["hiders_sealed_prep"][worlds] = self.sealed_off(worlds)
            self.ramp_room_prep[worlds], self.ramp_facing_prep[worlds] = self.ramp_to_room(worlds)

    def ramp_to_room(self, worlds):
        """(distance, facing), float [len(worlds)] each: how far (m) the first ramp's centre
        stands from the quadrant room now (the square the centre lines of its walls enclose, x
        from arena / 2 to arena, y from 0 to arena / 2; 0 in it), and the cosine between its
        uphill heading and the way from its centre to the room's nearest point: 1 where it
        faces the room as a seeker needs it to climb in, -1 where it must be turned round (NaN
        in the room). Both NaN in games without that room or without a ramp."""
        nan = np.full(len(worlds), np.nan)
        ramp = self.n_agents + self.n_boxes  # the first ramp's slot
        if self.preset.layout != "quadrant" or self.n_ramps == 0:
            return nan, nan
        s, arena = self.world, self.preset.arena
        spots, angle = s.pos[worlds, ramp], s.angle[worlds, ramp]  # [n, 2], [n]
        nearest = np.stack([spots[:, 0].clip(arena / 2, arena), spots[:, 1].clip(0, arena / 2)], -1)
        way = nearest - spots  # [n, 2], zero in the room
        distance = np.hypot(way[:, 0], way[:, 1])  # [n]
        with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 in the room: NaN
            facing = (np.cos(angle) * way[:, 0] + np.sin(angle) * way[:, 1]) / distance
        facing = np.where(distance > 0, facing, np.nan)
        is_ramp = s.kind[worlds, ramp] == RAMP
        return np.where(is_ramp, distance, np.nan), np.where(is_ramp, facing, np.nan)

    def sealed_off(self, worlds):
        """bool [len(worlds)]: no seeker can walk to any hider there now (section 4b)."""
        if len(worlds) == 0:  # most steps end no episode: nothing to fill
            return np.zeros(0, bool)
        s = self.world
        return hiders_sealed_off(s.kind[worlds], s.team[worlds], s.pos[worlds], s.half[worlds],
                                 s.angle[worlds], s.walls[worlds], s.wall_height[worlds],
                                 self.n_agents, self.preset.arena, physics.Physics().agent_radius)

    def episode_stats(self, ended):
        """The paper's figure 3 statistics for the worlds whose episode just ended, one entry per
        ended world (1-D arrays): displacements in m, lock counts, team returns (mean of the
        team's agents), episode length, team sizes, and `world`, the world index. Not paper keys:
        max_seeker_height, the highest a seeker stood (m), a cheap sign of ramp use;
        seeker_in_room, 1 if a seeker stood in the quadrant room at some step (seekers are
        frozen in preparation; NaN in layouts without that room);
        ramp_gap, how far (m) the ramp started short of the room's wall it faces uphill
        (`wall_ramp_gaps`: NaN unless the ramp stood so, as in the `ramp_spawn="wall"` games);
        door_fort and door_cube, begun from a fort built or left to finish
        (`handmade.close_doors`), and
        cube_gap, how far (m) the latter's cube stood back from its door (NaN elsewhere);
        door_ramp, begun with the ramp set outside the door (`handmade.ramps_to_doors`), and
        door_ramp_gap, how far (m) it stood from the wall (NaN elsewhere);
        ramp_hider, begun with a hider beside the ramp (`handmade.hiders_to_ramps`, or
        `handmade.ramps_to_doors`' hider_at_ramp), and ramp_walk, how far (m) it started out
        from beside it (0 beside it; NaN elsewhere), and walk_door_side, 1 if it started
        nearer the room's door than the ramp's centre (`handmade.on_door_side`; NaN elsewhere);
        cube_home, how far (m) the first cube started from closing the room's door, and
        cube_bearing, in which direction (degrees from straight back; `cube_home_offsets`;
        NaN without such a room);
        ramp_room_prep, how far (m) the first ramp stood from that room when preparation ended,
        and ramp_facing_prep, whether it faced the room uphill then (a cosine, -1 turned away;
        `ramp_to_room`; NaN without the room or a ramp): how a seeker had to bring it;
        hiders_sealed_prep and hiders_sealed, 1 if no seeker could walk to a hider when
        preparation ended / after the last step (a fort made, a fort that held); box_unlocks,
        how many times a box was unlocked after preparation. The keys are
        always there; with no episode ended, every array is empty."""
        stats = {"world": ended, "length": self.t[ended].copy(),
                 "max_seeker_height": self.seeker_height[ended],
                 "seeker_in_room": (self.seeker_in_room[ended].astype(np.float64)
                                    if self.preset.layout == "quadrant"
                                    else np.full(len(ended), np.nan)),
                 "ramp_gap": self.ramp_gap[ended].copy(),
                 "replayed": self.replayed[ended].copy(),
                 "door_fort": self.door_fort[ended].copy(),
                 "door_cube": self.door_cube[ended].copy(),
                 "cube_gap": self.cube_gap[ended].copy(),
                 "door_ramp": self.door_ramp[ended].copy(),
                 "door_ramp_gap": self.door_ramp_gap[ended].copy(),
                 "ramp_hider": self.ramp_hider[ended].copy(),
                 "ramp_walk": self.ramp_walk[ended].copy(),
                 "walk_door_side": self.walk_door_side[ended].copy(),
                 "cube_home": self.cube_home[ended].copy(),
                 "cube_bearing": self.cube_bearing[ended].copy(),
                 "ramp_room_prep": self.ramp_room_prep[ended].copy(),
                 "ramp_facing_prep": self.ramp_facing_prep[ended].copy()}
        team, returns = self.team[ended], self.returns[ended]  # [n, A]
        for name, side in (("hider", HIDERS), ("seeker", SEEKERS)):
            members = team == side  # [n, A]
            stats[f"{name}_return"] = (returns * members).sum(-1) / members.sum(-1).clip(1)
            stats[f"n_{name}s"] = members.sum(-1)
        for kind, name, count in ((BOX, "box", "n_boxes"), (RAMP, "ramp", "n_ramps")):
            move, locks = self.object_stats(ended, kind)
            stats[f"max_{name}_move"], stats[f"num_{name}_lock"] = move, locks
            stats[f"max_{name}_move_prep"] = self.prep_stats[f"max_{name}_move_prep"][ended]
            locks_prep = self.prep_stats[f"num_{name}_lock_prep"][ended]
            stats[f"num_{name}_lock_prep"] = locks_prep.astype(np.int64)
            stats[count] = (self.world.kind[ended] == kind).sum(-1)
        stats["hiders_sealed_prep"] = self.prep_stats["hiders_sealed_prep"][ended].astype(np.int64)
        stats["hiders_sealed"] = self.sealed_off(ended).astype(np.int64)  # after the last step
        stats["box_unlocks"] = self.box_unlocks[ended].copy()
        return stats

    def render(self, w=0, size=320):
        """Top-down RGB frame [size + header, size, 3] of world w (see `draw_frame`)."""
        return draw_frame(self, w, size)


# ---------------------------------------------------------------------------------------------
# 6. One world as a PettingZoo ParallelEnv
# ---------------------------------------------------------------------------------------------


def agent_names(preset):
    p = get_preset(preset)
    return ([f"hider_{k}" for k in range(p.hiders[1])]
            + [f"seeker_{k}" for k in range(p.seekers[1])])  # in slot order


def parallel_env(preset="quadrant", seed=None, render_mode=None):
    """One world of the game as a PettingZoo ParallelEnv, for trainers that speak PettingZoo.

    Agents are named hider_0, ..., seeker_0, ... (slot order); in games with random team sizes
    `agents` lists those present this episode. Observations are dicts (gymnasium Dict spaces)
    with the keys of `observe` and no leading [W, A] axes; actions are MultiDiscrete
    [11, 11, 11, 2, 2]. The episode ends by termination at the horizon (no truncation).
    pettingzoo is imported here, so env.py works without it.
    """
    try:
        from gymnasium import spaces
        from pettingzoo import ParallelEnv
    except ImportError as missing:
        raise ImportError("parallel_env needs PettingZoo: pip install pettingzoo") from missing

    class HideAndSeekParallel(ParallelEnv):
        metadata = {"name": "hide_and_seek_v0", "render_modes": ["rgb_array"],
                    "is_parallelizable": True}

        def __init__(self):
            if render_mode not in (None, "rgb_array"):
                raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
            self.render_mode = render_mode
            self.game = HideAndSeek(preset, 1, seed, auto_reset=False)
            self.possible_agents = agent_names(self.game.preset)
            self.agents = []
            box = {key: spaces.Box(-np.inf, np.inf, shape, np.float32)
                   for key, shape in self.game.obs_shapes.items()
                   if not key.startswith(("visible_", "exists_"))}
            masks = {key: spaces.Box(0, 1, shape, np.bool_)
                     for key, shape in self.game.obs_shapes.items() if key not in box}
            self.spaces = {name: (spaces.Dict({**box, **masks}),
                                  spaces.MultiDiscrete([11, 11, 11, 2, 2]))
                           for name in self.possible_agents}

        def observation_space(self, agent):
            return self.spaces[agent][0]

        def action_space(self, agent):
            return self.spaces[agent][1]

        def split(self, obs):
            return {name: {key: value[0, slot] for key, value in obs.items()}
                    for slot, name in enumerate(self.possible_agents) if name in self.agents}

        def reset(self, seed=None, options=None):
            obs = self.game.reset(seed)
            exists = self.game.agent_exists[0]
            self.agents = [name for slot, name in enumerate(self.possible_agents) if exists[slot]]
            return self.split(obs), {name: {} for name in self.agents}

        def step(self, actions):
            batch = np.tile(IDLE, (1, self.game.n_agents, 1))
            for slot, name in enumerate(self.possible_agents):
                if name in actions:
                    batch[0, slot] = actions[name]
            obs, rewards, dones, info = self.game.step(batch)
            slots = {name: slot for slot, name in enumerate(self.possible_agents)}
            out = (self.split(obs), {name: float(rewards[0, slots[name]]) for name in self.agents},
                   {name: bool(dones[0]) for name in self.agents},
                   {name: False for name in self.agents}, {name: {} for name in self.agents})
            if dones[0]:
                episode = {key: value[0] for key, value in info["episodes"].items()}
                for name in self.agents:
                    out[4][name]["episode"] = episode
                self.agents = []
            return out

        def render(self):
            return self.game.render(0) if self.render_mode == "rgb_array" else None

        def close(self):
            pass

    return HideAndSeekParallel()


# ---------------------------------------------------------------------------------------------
# 7. Rendering: cones, sight lines, a progress bar and a 3 x 5 pixel font over physics' drawing
# ---------------------------------------------------------------------------------------------

FONT = {  # 3 x 5 glyphs, row by row
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", "/": "001001010100100", " ": "000000000000000",
    "P": "111101111100100", "R": "110101110101101", "E": "111100110100111",
    "S": "111100111001111", "T": "111010010010010", "H": "101101111101101",
    "I": "111010010010111", "D": "110101101101110", "N": "101111111101101",
}
HEADER, PREP_COLOUR, GAME_COLOUR = 20, np.array((240, 160, 40)), np.array((90, 170, 90))


def write_text(image, text, x, y, colour, scale=2):
    """Stamp text in the 3 x 5 font with its top-left corner at pixel (x, y); characters that
    would run past the image's right edge are left out (a small render keeps what fits)."""
    for char in text:
        if x + 3 * scale > image.shape[1]:
            break
        glyph = np.array([int(bit) for bit in FONT[char]], bool).reshape(5, 3)
        pixels = np.kron(glyph, np.ones((scale, scale), bool))  # [5 scale, 3 scale]
        image[y:y + 5 * scale, x:x + 3 * scale][pixels] = colour
        x += 4 * scale


def blend_cone(canvas, x, y, heading, colour, reach=1.2, alpha=0.22):
    """Tint the 135-degree cone in front of an agent, drawn to `reach` m (vision has no limit)."""
    dx, dy = canvas.px - x, canvas.py - y
    distance = np.sqrt(dx * dx + dy * dy)
    inside = (distance <= reach) & (dx * math.cos(heading) + dy * math.sin(heading)
                                    >= distance * math.cos(CONE_HALF_ANGLE))
    canvas.image[inside] = (canvas.image[inside] * (1 - alpha) + colour * alpha).astype(np.uint8)


def draw_frame(env, w=0, size=320):
    """World w: the floor (outside the arena shaded), vision cones, a line from each seeker to
    each hider it sees, then physics.draw_world (walls, boxes, ramps, lock rims in the locking
    team's colour, holder-held links, agents with heading), under a header: a bar of the
    episode's progress (orange in the preparation phase, green after) and the step count, with
    SEEN or HIDDEN once the hiders are being scored."""
    s, arena = env.world, env.preset.arena
    canvas = physics.Canvas(size, (-0.25, arena + 0.25, -0.25, arena + 0.25))
    outside = (canvas.px < 0) | (canvas.px > arena) | (canvas.py < 0) | (canvas.py > arena)
    canvas.image[outside] = (215, 213, 205)
    A = env.n_agents
    for a in np.flatnonzero(s.kind[w, :A] == AGENT):
        blend_cone(canvas, *s.pos[w, a], s.angle[w, a], physics.TEAM_COLOURS[s.team[w, a]])
    seen = False
    for a in np.flatnonzero((s.kind[w, :A] == AGENT) & (s.team[w, :A] == SEEKERS)):
        for b in np.flatnonzero(env.visible[w, a, :A] & (s.team[w, :A] == HIDERS)):
            canvas.line(*s.pos[w, a], *s.pos[w, b], 0.03, (200, 60, 50))
            seen = True
    physics.draw_world(canvas, s, w)
    header = np.full((HEADER, size, 3), 40, np.uint8)
    t, horizon, prep = int(env.t[w]), env.preset.horizon, env.prep_steps
    edge = round(size * prep / horizon)
    header[:4, :edge], header[:4, edge:] = PREP_COLOUR * 0.45, GAME_COLOUR * 0.45
    done = round(size * t / horizon)
    header[:4, :min(done, edge)] = PREP_COLOUR
    header[:4, edge:max(done, edge)] = GAME_COLOUR
    label = f"PREP {t}/{prep}" if t < prep else f"STEP {t}/{horizon}"
    write_text(header, label, 6, 7, (255, 255, 255))
    if t >= prep and t > 0:
        word, colour = ("SEEN", physics.TEAM_COLOURS[SEEKERS]) if seen else (
            "HIDDEN", physics.TEAM_COLOURS[HIDERS])
        write_text(header, word, size - 6 - 8 * len(word), 7, colour)
    return np.concatenate([header, canvas.image])


# ---------------------------------------------------------------------------------------------
# 8. The demo and the benchmark
# ---------------------------------------------------------------------------------------------


def random_policy(rng, previous, keep=0.8):
    """Random actions that each agent keeps with probability `keep`, so that it wanders instead
    of trembling in place."""
    fresh = rng.integers(0, [11, 11, 11, 2, 2], size=previous.shape)
    return np.where(rng.random(previous.shape[:2])[..., None] < keep, previous, fresh)


def play_episode(preset, path, seed, size=256):
    """One random-policy episode of `preset` written as a GIF; returns its statistics."""
    env = HideAndSeek(preset, 1, seed, auto_reset=False)
    rng = np.random.default_rng(seed)
    actions = random_policy(rng, np.tile(IDLE, (1, env.n_agents, 1)), keep=0.0)
    every = 1 if env.preset.horizon <= 100 else 2  # long episodes: every other step, small GIF
    frames = [env.render(0, size)]
    for t in range(env.preset.horizon):
        actions = random_policy(rng, actions)
        _, _, dones, info = env.step(actions)
        if (t + 1) % every == 0:
            frames.append(env.render(0, size))
    physics.write_gif(path, frames, fps=13 / every)  # real time either way
    return {key: value[0] for key, value in info["episodes"].items()}


DEMO_SEEDS = {"quadrant": 3, "full": 9}  # full, seed 9: outer walls, 4 rooms, 3 v 2, 7 boxes


def run_demo(prefix, seed=None):
    for preset, name in (("quadrant", "quadrant"), ("full", "rooms")):
        path = f"{prefix}_{name}.gif"
        stats = play_episode(preset, path, DEMO_SEEDS[preset] if seed is None else seed)
        print(f"{path}: {preset} game, {stats['n_hiders']} hiders v {stats['n_seekers']} "
              f"seekers, {stats['n_boxes']} boxes, {stats['n_ramps']} ramps")
        print("  " + ", ".join(f"{key} {stats[key]:.2f}" if isinstance(stats[key], float)
                               else f"{key} {stats[key]}"
                               for key in ("hider_return", "seeker_return", *STAT_KEYS)))


def bench(n_worlds, steps, preset="quadrant", seed=0):
    """env.step on W worlds with random actions: physics, sensing, observations, rewards,
    statistics and resets, all inside the clock."""
    env = HideAndSeek(preset, n_worlds, seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, [11, 11, 11, 2, 2], size=(16, n_worlds, env.n_agents, 5))
    env.step(actions[0])  # compile (or load the cache) outside the clock
    env.timing = dict.fromkeys(env.timing, 0.0)
    start = time.perf_counter()
    for t in range(steps):
        env.step(actions[t % 16])
    elapsed = time.perf_counter() - start
    split = ", ".join(f"{phase} {100 * seconds / elapsed:.0f}% "
                      f"({1e6 * seconds / steps / n_worlds:.1f} us/world-step)"
                      for phase, seconds in env.timing.items())
    print(f"{preset}: W {n_worlds}, {steps} steps ({steps // env.preset.horizon} resets), "
          f"time split: {split}")
    print(f"env-steps/s: {n_worlds * steps / elapsed:,.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", action="store_true", help="time env.step on many worlds")
    parser.add_argument("--worlds", type=int, default=1024, help="W for --bench")
    parser.add_argument("--steps", type=int, default=200, help="steps for --bench")
    parser.add_argument("--preset", default="quadrant", help="preset for --bench")
    parser.add_argument("--out-prefix", default="env", help="GIFs go to PREFIX_quadrant.gif "
                        "and PREFIX_rooms.gif")
    parser.add_argument("--seed", type=int, default=None, help="seed of both demo episodes "
                        "(default: DEMO_SEEDS)")
    args = parser.parse_args()
    if args.bench:
        bench(args.worlds, args.steps, args.preset)
    else:
        run_demo(args.out_prefix, args.seed)


if __name__ == "__main__":
    main()
