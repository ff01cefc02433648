"""A simulated city for scoring the investigations: a grid of road cameras, a car park, vehicles on
routes for a month, with planted cloned plates, convoys and overstays (the ground truth).

Deterministic in its seed. Roads form a 6 x 6 grid (36 intersections 1.5 km apart, one camera
each, one site each); vehicles drive Manhattan routes at 30-50 km/h. Commuters make a morning and
an evening trip within their half of the city; a cloned plate is carried by a second commuter in
the other half. A convoy follower repeats its leader's trips 10-40 s behind on several days. The
car park has one gate camera (entries ``approaching``, exits ``leaving``), used by vehicles that
drive nowhere else; planted overstays stay 6-30 h, everyone else 20 min to 3 h. OCR noise: 1 %
of passages read with a confusable character swapped (a vehicle with a confusable sibling plate
is read as the sibling), mostly at low confidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from platestream.plates import CONFUSABLE_PAIRS

GRID = 6
SPACING_KM = 1.5
LAT0, LON0 = 51.45, -0.15
KM_PER_DEG_LAT = 111.195
HOUR = 3_600_000
DAY = 24 * HOUR
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
SWAP = {a: b for a, b in CONFUSABLE_PAIRS} | {b: a for a, b in CONFUSABLE_PAIRS}


@dataclass(frozen=True)
class Camera:
    camera_id: str
    site: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Passage:
    plate: str
    camera_id: str
    ts: int
    confidence: float
    direction: str | None = None
    truth_plate: str = ""  # what the vehicle really carries (a misread differs)


@dataclass
class City:
    cameras: dict[str, Camera]
    passages: list[Passage] = field(default_factory=list)
    clones: set[str] = field(default_factory=set)  # plates carried by two vehicles
    convoys: set[tuple[str, str]] = field(default_factory=set)  # (plate, companion), sorted
    overstays: set[tuple[str, int]] = field(default_factory=set)  # (plate, entry ts)
    start: int = 0
    days: int = 30


def cameras() -> dict[str, Camera]:
    out = {}
    lon_km = KM_PER_DEG_LAT * 0.6225  # cos(51.45 deg)
    for r in range(GRID):
        for c in range(GRID):
            cid = f"x{r}{c}"
            out[cid] = Camera(
                cid,
                f"junction-{r}{c}",
                LAT0 + r * SPACING_KM / KM_PER_DEG_LAT,
                LON0 + c * SPACING_KM / lon_km,
            )
    out["park-gate"] = Camera("park-gate", "park", LAT0 + 2.5 * SPACING_KM / KM_PER_DEG_LAT, LON0)
    return out


def _plate(rng: random.Random, taken: set[str]) -> str:
    while True:
        p = "".join(rng.choice(LETTERS) for _ in range(3)) + f"{rng.randrange(10_000):04d}"
        if p not in taken:
            taken.add(p)
            return p


def _route(rng: random.Random, a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """Intersections from a to b, rows first or columns first."""
    (r0, c0), (r1, c1) = a, b
    rows = [(r, c0) for r in _steps(r0, r1)]
    cols = [(r1, c) for c in _steps(c0, c1)][1:]
    if rng.random() < 0.5:
        return rows + cols
    cols = [(r0, c) for c in _steps(c0, c1)]
    return cols + [(r, c1) for r in _steps(r0, r1)][1:]


def _steps(a: int, b: int) -> list[int]:
    return list(range(a, b + 1)) if b >= a else list(range(a, b - 1, -1))


class _Sim:
    def __init__(self, seed: int, start: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.city = City(cameras(), start=start, days=days)
        self.siblings: dict[str, str] = {}

    def read(self, plate: str, cam: str, ts: int, direction: str | None = None) -> None:
        rng = self.rng
        shown, conf = plate, round(rng.uniform(0.88, 0.99), 3)
        if rng.random() < 0.01:
            if plate in self.siblings:
                shown = self.siblings[plate]
            else:
                i = rng.choice([k for k, ch in enumerate(plate) if ch in SWAP] or [0])
                shown = plate[:i] + SWAP.get(plate[i], plate[i]) + plate[i + 1 :]
            conf = round(
                rng.uniform(0.86, 0.95) if rng.random() < 0.2 else rng.uniform(0.6, 0.84), 3
            )
        self.city.passages.append(Passage(shown, cam, ts, conf, direction, plate))

    def trip(
        self, plate: str, a: tuple[int, int], b: tuple[int, int], t: int
    ) -> list[tuple[str, int]]:
        speed = self.rng.uniform(30, 50)
        stops = []
        for r, c in _route(self.rng, a, b):
            stops.append((f"x{r}{c}", t))
            self.read(plate, f"x{r}{c}", t)
            t += int(SPACING_KM / speed * HOUR)
        return stops

    def spot(self, half: int) -> tuple[int, int]:
        r = self.rng.randrange(GRID)
        return r, half * (GRID // 2) + self.rng.randrange(GRID // 2)


def simulate(
    *,
    seed: int = 1,
    start: int = 1_764_547_200_000,  # 2025-12-01T00:00Z
    days: int = 30,
    vehicles: int = 1000,
    clones: int = 20,
    convoys: int = 15,
    parkers: int = 150,
    overstays: int = 20,
) -> City:
    """A month of the city's traffic with its ground truth."""
    sim = _Sim(seed, start, days)
    rng, city = sim.rng, sim.city
    taken: set[str] = set()
    plates = [_plate(rng, taken) for _ in range(vehicles)]
    # 30 pairs of plates one confusable character apart: misreads of one read as the other
    for p in plates[:30]:
        i = next((k for k, ch in enumerate(p) if ch in SWAP), None)
        if i is not None:
            sib = p[:i] + SWAP[p[i]] + p[i + 1 :]
            if sib not in taken:
                taken.add(sib)
                plates.append(sib)
                sim.siblings[p], sim.siblings[sib] = sib, p
    commuters = plates[: vehicles // 2]
    parking = set(plates[vehicles - parkers : vehicles])
    homes = {p: (sim.spot(k % 2), sim.spot(k % 2)) for k, p in enumerate(plates)}
    city.clones = set(commuters[:clones])
    # a clone's second vehicle lives and works in the other half of the city
    twins = [
        (p, (sim.spot(1 - k % 2), sim.spot(1 - k % 2))) for k, p in enumerate(commuters[:clones])
    ]
    followers: dict[str, str] = {}
    pool = plates[vehicles // 2 : vehicles - parkers]
    for lead in rng.sample(commuters[clones:], convoys):
        follower = rng.choice([p for p in pool if p not in followers.values()])
        followers[lead] = follower
        city.convoys.add(tuple(sorted((lead, follower))))  # type: ignore[arg-type]
    convoy_days = {lead: set(rng.sample(range(days), min(8, days))) for lead in followers}
    for d in range(days):
        day0 = start + d * DAY
        for p in plates:
            home, work = homes[p]
            if p in commuters:
                trips = [
                    (home, work, day0 + 7 * HOUR + rng.randrange(2 * HOUR)),
                    (work, home, day0 + 17 * HOUR + rng.randrange(2 * HOUR)),
                ]
            elif p in followers.values() or p in parking:
                continue  # followers drive only behind their leader, parkers only to the park
            elif rng.random() < 0.5:
                trips = [
                    (
                        sim.spot(rng.randrange(2)),
                        sim.spot(rng.randrange(2)),
                        day0 + 6 * HOUR + rng.randrange(16 * HOUR),
                    )
                ]
            else:
                trips = []
            for a, b, t in trips:
                stops = sim.trip(p, a, b, t)
                if p in followers and d in convoy_days[p]:
                    lag = rng.randrange(10_000, 40_000)
                    for cam, ts in stops:
                        sim.read(followers[p], cam, ts + lag)
        for p, (home, work) in twins:
            sim.trip(p, home, work, day0 + 7 * HOUR + rng.randrange(2 * HOUR))
            sim.trip(p, work, home, day0 + 17 * HOUR + rng.randrange(2 * HOUR))
    _car_park(sim, plates[vehicles - parkers : vehicles], overstays)
    city.passages.sort(key=lambda x: x.ts)
    return city


def _car_park(sim: _Sim, parkers: list[str], overstays: int) -> None:
    rng, city = sim.rng, sim.city
    long_stay = set(rng.sample(parkers, overstays))
    for p in parkers:
        t = city.start + rng.randrange(city.days - 2) * DAY + 8 * HOUR + rng.randrange(8 * HOUR)
        stay = (
            rng.randrange(6 * HOUR, 30 * HOUR)
            if p in long_stay
            else rng.randrange(HOUR // 3, 3 * HOUR)
        )
        sim.read(p, "park-gate", t, "approaching")
        sim.read(p, "park-gate", t + stay, "leaving")
        if p in long_stay:
            city.overstays.add((p, t))
