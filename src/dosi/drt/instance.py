"""The dial-a-ride instance: requests, vehicles, depots and the travel-time model.

Node numbering follows the classic DARP convention so the text format maps one to one:
request ``i`` (1..n) is picked up at node ``i`` and dropped off at node ``n + i``. Every
other node is a depot: node 0 and node ``2n + 1`` in the text format, node 0 and nodes
``2n + 1, 2n + 2, ...`` for the further depots of the JSON format. Each vehicle names its
start and end depot node, its shift (earliest departure, latest return), its maximum route
duration and its capacities (seats and wheelchair places, two independent dimensions).

Times are in the instance's own unit (minutes for the Cordeau instances); travel time is the
distance divided by ``speed`` (1 for the text format, so travel time = distance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise


@dataclass(frozen=True)
class Vehicle:
    id: str
    start: int  # depot node
    end: int  # depot node
    seats: int
    wheelchairs: int = 0
    shift_start: float = 0.0
    shift_end: float = math.inf
    max_duration: float = math.inf


@dataclass
class Instance:
    """A static DARP instance. Lists are indexed by node (``len == n_nodes``)."""

    name: str
    n: int  # number of requests
    x: list[float]
    y: list[float]
    service: list[float]
    seats: list[int]  # +q at a pickup, -q at its drop-off, 0 at depots
    wheelchairs: list[int]
    earliest: list[float]
    latest: list[float]
    max_ride: list[float]  # indexed by request 1..n (index 0 unused)
    vehicles: list[Vehicle]
    speed: float = 1.0
    request_ids: list[str] = field(default_factory=list)  # index 0 unused
    node_names: dict[int, str] = field(default_factory=dict)  # depot names (JSON format)
    source_format: str = "cordeau"
    dist: list[list[float]] = field(init=False, repr=False)
    time: list[list[float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        nodes = len(self.x)
        for name in ("y", "service", "seats", "wheelchairs", "earliest", "latest"):
            if len(getattr(self, name)) != nodes:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {nodes} nodes")
        if nodes < 2 * self.n + 1:
            raise ValueError(f"{nodes} nodes cannot hold {self.n} requests and a depot")
        if not self.vehicles:
            raise ValueError("the instance has no vehicle")
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if not self.request_ids:
            self.request_ids = [""] + [str(i) for i in range(1, self.n + 1)]
        xs, ys = self.x, self.y
        self.dist = [
            [math.hypot(xs[a] - xs[b], ys[a] - ys[b]) for b in range(nodes)] for a in range(nodes)
        ]
        if self.speed == 1.0:
            self.time = self.dist
        else:
            self.time = [[d / self.speed for d in row] for row in self.dist]

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    def pickup(self, request: int) -> int:
        return request

    def dropoff(self, request: int) -> int:
        return self.n + request

    def is_pickup(self, node: int) -> bool:
        return 1 <= node <= self.n

    def is_dropoff(self, node: int) -> bool:
        return self.n < node <= 2 * self.n

    def is_depot(self, node: int) -> bool:
        return node == 0 or node > 2 * self.n

    def request_of(self, node: int) -> int:
        return node if node <= self.n else node - self.n

    def route_cost(self, stops: list[int], vehicle: Vehicle) -> float:
        """Distance of a route given without its depots (0 for an empty route)."""
        if not stops:
            return 0.0
        d = self.dist
        total = d[vehicle.start][stops[0]] + d[stops[-1]][vehicle.end]
        for a, b in pairwise(stops):
            total += d[a][b]
        return total
