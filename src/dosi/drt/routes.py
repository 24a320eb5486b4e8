"""Fast route evaluation for the solver: tightened windows, exact route scheduling and
filtered insertion candidates.

``Prep`` copies the instance into plain lists (fast to index in Python) and tightens the
time windows with the implied constraints of each request (a pickup must leave early enough
to reach its drop-off, a drop-off cannot come later than the pickup plus the ride limit, ...),
which removes no feasible schedule.

``schedule`` decides a route exactly: it computes the earliest schedule satisfying every
lower bound (windows' opening times, travel times, and the lower bounds that ride-time and
duration limits imply for earlier stops: ``B_pick >= B_drop - s_pick - L``, ``B_start >=
B_end - T``) by alternating a forward sweep with those backward edges until nothing moves.
That is a longest-path computation in the constraint graph: it converges after at most one
round per backward edge (plus one) unless there is a positive cycle, and the route is feasible
exactly when the result respects every latest time. It is the solver's own implementation;
the independent checker in ``check.py`` uses Bellman-Ford on the full graph.
"""

from __future__ import annotations

import math
from itertools import pairwise

from dosi.drt.instance import Instance

EPS = 1e-9


class Prep:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        n = self.n = inst.n
        self.D = inst.dist
        self.T = inst.time
        self.S = list(inst.service)
        self.qs = list(inst.seats)
        self.qw = list(inst.wheelchairs)
        self.L = list(inst.max_ride)
        e, l = list(inst.earliest), list(inst.latest)
        T, S = self.T, self.S
        vehs = inst.vehicles
        for r in range(1, n + 1):
            p, d = r, n + r
            e[p] = max(e[p], min(v.shift_start + T[v.start][p] for v in vehs))
            l[d] = min(l[d], max(v.shift_end - S[d] - T[d][v.end] for v in vehs))
            for _ in range(2):
                e[p] = max(e[p], e[d] - self.L[r] - S[p])
                l[p] = min(l[p], l[d] - S[p] - T[p][d])
                e[d] = max(e[d], e[p] + S[p] + T[p][d])
                l[d] = min(l[d], l[p] + S[p] + self.L[r])
        self.E, self.Lt = e, l
        self.ST = [[S[a] + d for d in row] for a, row in enumerate(T)]
        self.W = [None] + [
            self.L[r] + S[r] if math.isfinite(self.L[r]) else None for r in range(1, n + 1)]
        self.veh = vehs
        self.start_lb = [max(e[v.start], v.shift_start) for v in vehs]
        self.end_ub = [min(l[v.end], v.shift_end) for v in vehs]

    def schedule(self, k: int, stops: list[int], keep: int = 0,
                 prefix: list[float] | None = None) -> list[float] | None:
        """Earliest feasible schedule of vehicle ``k`` visiting ``stops`` (depots included in
        the result), or None when no schedule exists. ``prefix`` may give lower bounds for
        positions ``0..keep`` (the earliest schedule of a route these stops extend after
        position ``keep``): the sweep then starts there."""
        veh = self.veh[k]
        nodes = [veh.start, *stops, veh.end]
        m = len(nodes)
        n, E, Lt, ST, W = self.n, self.E, self.Lt, self.ST, self.W
        back: list[tuple[int, int, float]] = []
        pos: dict[int, int] = {}
        if prefix is None or keep == 0:
            keep = 0
            cur = [0.0] * m
            t = self.start_lb[k]
            if t > Lt[veh.start]:
                return None
            cur[0] = t
        else:
            cur = prefix[: keep + 1] + [0.0] * (m - keep - 1)
            t = cur[keep]
            for idx in range(1, keep + 1):
                v = nodes[idx]
                if v <= n:
                    pos[v] = idx
                elif W[v - n] is not None:
                    back.append((idx, pos[v - n], W[v - n]))
        u = nodes[keep]
        for idx in range(keep + 1, m):
            v = nodes[idx]
            t += ST[u][v]
            e = E[v]
            if t < e:
                t = e
            if t > Lt[v]:
                return None
            cur[idx] = t
            if v <= n:
                pos[v] = idx
            elif idx < m - 1 and W[v - n] is not None:
                back.append((idx, pos[v - n], W[v - n]))
            u = v
        if t > self.end_ub[k]:
            return None
        if veh.max_duration != math.inf:
            back.append((m - 1, 0, veh.max_duration))
        if not back:
            return cur
        lb: dict[int, float] = {}
        end_ub = self.end_ub[k]
        for _ in range(len(back) + 1):
            lowest = m
            for f, to, w in back:
                need = cur[f] - w
                if need > cur[to] + EPS:
                    if need > lb.get(to, -math.inf):
                        lb[to] = need
                    if to < lowest:
                        lowest = to
            if lowest == m:
                return cur
            t = lb[lowest]
            if t > Lt[nodes[lowest]]:
                return None
            cur[lowest] = t
            u = nodes[lowest]
            for idx in range(lowest + 1, m):
                v = nodes[idx]
                t += ST[u][v]
                e = lb.get(idx, E[v])
                if t < e:
                    t = e
                if t > Lt[v]:
                    return None
                cur[idx] = t
                u = v
            if t > end_ub:
                return None
        return None

    def latest(self, k: int, stops: list[int]) -> list[float]:
        """Upper bounds on the service start times (windows and travel times only)."""
        veh = self.veh[k]
        nodes = [veh.start, *stops, veh.end]
        S, T, Lt = self.S, self.T, self.Lt
        z = [0.0] * len(nodes)
        t = self.end_ub[k]
        z[-1] = t
        for idx in range(len(nodes) - 2, -1, -1):
            u, v = nodes[idx], nodes[idx + 1]
            t = min(Lt[u], t - S[u] - T[u][v])
            z[idx] = t
        return z


class RouteState:
    """A route with the data the insertion filters need (all lists include the depots)."""

    __slots__ = ("A", "Z", "cost", "k", "ls", "lw", "nodes", "stops")

    def __init__(self, prep: Prep, k: int, stops: list[int], times: list[float] | None = None):
        self.k = k
        self.stops = stops
        veh = prep.veh[k]
        self.nodes = nodes = [veh.start, *stops, veh.end]
        if times is None:
            times = prep.schedule(k, stops)
            if times is None:
                raise ValueError(f"route {k} is infeasible")
        self.A = times
        self.Z = prep.latest(k, stops)
        ls, lw, s, w = [], [], 0, 0
        for v in nodes:
            s += prep.qs[v]
            w += prep.qw[v]
            ls.append(s)
            lw.append(w)
        self.ls, self.lw = ls, lw
        D = prep.D
        self.cost = sum(D[a][b] for a, b in pairwise(nodes)) if stops else 0.0


def candidates(prep: Prep, rs: RouteState, r: int) -> list[tuple[float, int, int]]:
    """Insertion positions of request ``r`` passing the cheap necessary conditions, as
    ``(added distance, i, j)``: pickup after route position ``i``, drop-off after ``j``
    (``j == i`` means straight after the pickup). Sorted by added distance."""
    n, D, T, S, E, Lt = prep.n, prep.D, prep.T, prep.S, prep.E, prep.Lt
    p, d = r, n + r
    veh = prep.veh[rs.k]
    qs, qw = prep.qs[p], prep.qw[p]
    caps, capw = veh.seats - qs, veh.wheelchairs - qw
    if caps < 0 or capw < 0:
        return []
    ep, lp, ed, ld, sp, sd = E[p], Lt[p], E[d], Lt[d], S[p], S[d]
    ride = prep.L[r]
    Dp, Dd, Tp, Td = D[p], D[d], T[p], T[d]
    nodes, A, Z, ls, lw = rs.nodes, rs.A, rs.Z, rs.ls, rs.lw
    m = len(nodes)
    out = []
    for i in range(m - 1):
        ai = A[i]
        if ai > lp:
            break
        if ls[i] > caps or lw[i] > capw:
            continue
        u, v = nodes[i], nodes[i + 1]
        Du, Tu = D[u], T[u]
        arr_p = ai + S[u] + Tu[p]
        if arr_p < ep:
            arr_p = ep
        if arr_p > lp:
            continue
        dep_p = arr_p + sp
        arr_d = dep_p + Tp[d]
        if arr_d < ed:
            arr_d = ed
        if arr_d <= ld and arr_d + sd + Td[v] <= Z[i + 1]:
            out.append((Du[p] + Dp[d] + Dd[v] - Du[v], i, i))
        t = dep_p + Tp[v]
        if t > Z[i + 1]:
            continue
        latest_dep_p = min(lp, Z[i + 1] - Tp[v] - sp) + sp
        base = Du[p] + Dp[v] - Du[v]
        w = v
        for j in range(i + 1, m - 1):
            if j > i + 1:
                t += S[w] + T[w][nodes[j]]
                w = nodes[j]
            if t < A[j]:
                t = A[j]
            if t > Z[j] or t > ld or t - latest_dep_p > ride:
                break
            if ls[j] > caps or lw[j] > capw:
                break
            x = nodes[j + 1]
            arr_d = t + S[w] + T[w][d]
            if arr_d < ed:
                arr_d = ed
            if arr_d > ld or arr_d - latest_dep_p > ride or arr_d + sd + Td[x] > Z[j + 1]:
                continue
            out.append((base + D[w][d] + Dd[x] - D[w][x], i, j))
    out.sort()
    return out


def insert(stops: list[int], n: int, r: int, i: int, j: int) -> list[int]:
    """New stop list with request ``r`` inserted at candidate position ``(i, j)``."""
    new = stops[:i] + [r]
    if j == i:
        return new + [n + r] + stops[i:]
    return new + stops[i:j] + [n + r] + stops[j:]


def best_feasible(prep: Prep, rs: RouteState, r: int, tries: int = 12):
    """Cheapest exactly feasible insertion of ``r`` into ``rs``: (cost, stops, times) or None."""
    for cost, i, j in candidates(prep, rs, r)[:tries]:
        stops = insert(rs.stops, prep.n, r, i, j)
        times = prep.schedule(rs.k, stops, i, rs.A)
        if times is not None:
            return cost, stops, times
    return None
