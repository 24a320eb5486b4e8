"""Adaptive large neighbourhood search for the DARP, minimising total distance.

Construction by regret insertion, then ALNS (Ropke & Pisinger 2006): each iteration removes
a few requests (random, worst, Shaw-related) and reinserts them (greedy, regret-2, regret-3,
optionally with noise); the operators' weights adapt to their success, and a simulated
annealing criterion decides acceptance. Every route the search builds is scheduled exactly
(``routes.Prep.schedule``), so every solution it holds is feasible; requests that cannot be
inserted stay unserved at a large penalty. The search is deterministic for a seed: the same
seed and the same number of iterations give the same plan (a wall-clock limit only decides
where the sequence stops).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from dosi.drt.instance import Instance
from dosi.drt.routes import Prep, RouteState, best_feasible


@dataclass
class Result:
    routes: list[list[int]]
    cost: float
    unserved: list[int]
    iterations: int
    seconds: float


class Solution:
    __slots__ = ("routes", "unassigned")

    def __init__(self, routes: list[RouteState], unassigned: set[int]):
        self.routes = routes
        self.unassigned = unassigned

    def copy(self) -> Solution:
        return Solution(list(self.routes), set(self.unassigned))

    def distance(self) -> float:
        return sum(rs.cost for rs in self.routes)


class ALNS:
    SCORES = (33.0, 9.0, 13.0)  # new best, better than current, accepted
    SEGMENT = 100
    REACTION = 0.1

    def __init__(self, inst: Instance, seed: int = 0):
        self.inst = inst
        self.prep = Prep(inst)
        self.rng = random.Random(seed)
        n = inst.n
        self.max_d = max(max(row) for row in inst.dist) or 1.0
        self.penalty = 1000.0 + 4.0 * self.max_d
        self.q_max = max(4, min(30, int(0.2 * n)))
        veh = inst.vehicles
        self.klass = [
            (v.start, v.end, v.seats, v.wheelchairs, v.shift_start, v.shift_end, v.max_duration)
            for v in veh
        ]
        self.destroy = [self.remove_random, self.remove_worst, self.remove_shaw]
        self.repair = [
            lambda s: self.insert(s, 1, 0.0),
            lambda s: self.insert(s, 2, 0.0),
            lambda s: self.insert(s, 3, 0.0),
            lambda s: self.insert(s, 2, 0.025),
        ]
        self.w_destroy = [1.0] * len(self.destroy)
        self.w_repair = [1.0] * len(self.repair)

    # ------------------------------------------------------------------ objective
    def objective(self, sol: Solution) -> float:
        return sol.distance() + self.penalty * len(sol.unassigned)

    # ------------------------------------------------------------------ removal
    def _locate(self, sol: Solution) -> dict[int, int]:
        where = {}
        n = self.inst.n
        for k, rs in enumerate(sol.routes):
            for v in rs.stops:
                if v <= n:
                    where[v] = k
        return where

    def _remove(self, sol: Solution, reqs: list[int]) -> None:
        n = self.inst.n
        drop = set(reqs) | {n + r for r in reqs}
        touched = {k for k, rs in enumerate(sol.routes) if any(v in drop for v in rs.stops)}
        for k in touched:
            stops = [v for v in sol.routes[k].stops if v not in drop]
            sol.routes[k] = RouteState(self.prep, k, stops)
        sol.unassigned.update(reqs)

    def _count(self, served: int) -> int:
        return min(served, self.rng.randint(2, self.q_max))

    def remove_random(self, sol: Solution) -> None:
        served = sorted(self._locate(sol))
        self._remove(sol, self.rng.sample(served, self._count(len(served))))

    def remove_worst(self, sol: Solution) -> None:
        D, n = self.prep.D, self.inst.n
        saving = []
        for rs in sol.routes:
            nodes = rs.nodes
            pos = {v: i for i, v in enumerate(nodes)}
            for v in rs.stops:
                if v > n:
                    continue
                i, j = pos[v], pos[n + v]
                a, b, c, e = nodes[i - 1], nodes[i + 1], nodes[j - 1], nodes[j + 1]
                if j == i + 1:
                    s = D[a][v] + D[v][n + v] + D[n + v][e] - D[a][e]
                else:
                    s = D[a][v] + D[v][b] - D[a][b] + D[c][n + v] + D[n + v][e] - D[c][e]
                saving.append((-s, v))
        saving.sort()
        q = self._count(len(saving))
        chosen: list[int] = []
        while len(chosen) < q:
            idx = int(len(saving) * self.rng.random() ** 3)
            chosen.append(saving.pop(idx)[1])
        self._remove(sol, chosen)

    def remove_shaw(self, sol: Solution) -> None:
        where = self._locate(sol)
        served = sorted(where)
        if not served:
            return
        D, n, E, Lt = self.prep.D, self.inst.n, self.prep.E, self.prep.Lt
        seed = self.rng.choice(served)
        pd = n + seed

        def related(r: int) -> float:
            return (D[seed][r] + D[pd][n + r] + abs(E[seed] - E[r]) + abs(Lt[pd] - Lt[n + r])
                    + (0.0 if where[r] == where[seed] else self.max_d * 0.1))

        rest = sorted((r for r in served if r != seed), key=related)
        chosen = [seed]
        q = self._count(len(served))
        while len(chosen) < q and rest:
            chosen.append(rest.pop(int(len(rest) * self.rng.random() ** 6)))
        self._remove(sol, chosen)

    # ------------------------------------------------------------------ insertion
    def _route_options(self, sol: Solution) -> list[int]:
        """Routes worth trying: every non-empty route and one empty route per vehicle class."""
        seen, out = set(), []
        for k, rs in enumerate(sol.routes):
            if rs.stops:
                out.append(k)
            elif self.klass[k] not in seen:
                seen.add(self.klass[k])
                out.append(k)
        return out

    def insert(self, sol: Solution, regret: int, noise: float) -> None:
        prep, rng = self.prep, self.rng
        pending = sorted(sol.unassigned)
        amp = noise * self.max_d
        cache: dict[int, dict[int, tuple | None]] = {r: {} for r in pending}
        options = self._route_options(sol)
        for r in pending:
            for k in options:
                cache[r][k] = best_feasible(prep, sol.routes[k], r)
        while pending:
            pick = None
            for r in pending:
                costs = sorted(
                    (res[0] + (amp * (2 * rng.random() - 1) if amp else 0.0), k)
                    for k, res in cache[r].items() if res is not None
                )
                if not costs:
                    continue
                if regret <= 1:
                    key = (-costs[0][0], 0.0)
                else:
                    gap = 0.0
                    for h in range(1, regret):
                        gap += (costs[h][0] if h < len(costs) else self.penalty) - costs[0][0]
                    key = (gap, -costs[0][0])
                if pick is None or key > pick[0]:
                    pick = (key, r, costs[0][1])
            if pick is None:
                break
            _, r, k = pick
            _, stops, times = cache[r][k]
            sol.routes[k] = RouteState(prep, k, stops, times)
            sol.unassigned.discard(r)
            pending.remove(r)
            new_options = self._route_options(sol)
            for r2 in pending:
                c = cache[r2]
                for k2 in list(c):
                    if k2 not in new_options:
                        del c[k2]
                for k2 in new_options:
                    if k2 == k or k2 not in c:
                        c[k2] = best_feasible(prep, sol.routes[k2], r2)

    # ------------------------------------------------------------------ search
    def initial(self) -> Solution:
        routes = [RouteState(self.prep, k, []) for k in range(len(self.inst.vehicles))]
        sol = Solution(routes, set(range(1, self.inst.n + 1)))
        self.insert(sol, 2, 0.0)
        return sol

    def _pick(self, weights: list[float]) -> int:
        x = self.rng.random() * sum(weights)
        for i, w in enumerate(weights):
            x -= w
            if x <= 0:
                return i
        return len(weights) - 1

    def run(self, time_limit: float = 10.0, iterations: int | None = None,
            cycle: int | None = None, start_worse: float = 0.005) -> Result:
        t0 = time.perf_counter()
        deadline = t0 + time_limit
        cur = self.initial()
        best, f_cur = cur.copy(), self.objective(cur)
        f_best = f_cur
        cycle = cycle or max(1000, 50 * self.inst.n)
        start_temp = start_worse * f_best / math.log(2)
        cool = (0.002) ** (1.0 / cycle)
        temp = start_temp
        sd, sr = [0.0] * len(self.destroy), [0.0] * len(self.repair)
        nd, nr = [0] * len(self.destroy), [0] * len(self.repair)
        it = 0
        while (iterations is None or it < iterations) and time.perf_counter() < deadline:
            it += 1
            i_d, i_r = self._pick(self.w_destroy), self._pick(self.w_repair)
            cand = cur.copy()
            self.destroy[i_d](cand)
            self.repair[i_r](cand)
            f = self.objective(cand)
            score = 0.0
            if f < f_best - 1e-9:
                best, f_best, score = cand.copy(), f, self.SCORES[0]
                cur, f_cur = cand, f
            elif f < f_cur - 1e-9:
                cur, f_cur, score = cand, f, self.SCORES[1]
            elif f > f_cur + 1e-9 and self.rng.random() < math.exp((f_cur - f) / temp):
                cur, f_cur, score = cand, f, self.SCORES[2]
            sd[i_d] += score
            sr[i_r] += score
            nd[i_d] += 1
            nr[i_r] += 1
            temp *= cool
            if it % cycle == 0:  # reheat from the best solution
                cur, f_cur = best.copy(), f_best
                temp = start_temp * 0.5
            if it % self.SEGMENT == 0:
                for w, s, c in ((self.w_destroy, sd, nd), (self.w_repair, sr, nr)):
                    for i in range(len(w)):
                        if c[i]:
                            w[i] = (1 - self.REACTION) * w[i] + self.REACTION * s[i] / c[i]
                        w[i] = max(w[i], 0.05)
                        s[i], c[i] = 0.0, 0
        routes = [list(rs.stops) for rs in best.routes]
        return Result(routes=routes, cost=best.distance(), unserved=sorted(best.unassigned),
                      iterations=it, seconds=time.perf_counter() - t0)


def solve(inst: Instance, time_limit: float = 10.0, seed: int = 0,
          iterations: int | None = None) -> Result:
    return ALNS(inst, seed).run(time_limit=time_limit, iterations=iterations)
