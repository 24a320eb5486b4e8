"""Live streams for browsers: the same matching as subscriptions, pushed to open
Server-Sent Events connections (``GET /dosi/v1/stream``) right after each commit.

A stream is ephemeral and best-effort: nothing is stored, a client that does not keep
up loses the oldest events (and is told how many with a ``dropped`` event). Durable,
at-least-once delivery is what subscriptions are for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dosi.ngsild.notification import data_entity, render_data
from dosi.ngsild.render import RenderOptions
from dosi.ngsild.values import now_iso
from dosi.notify.matcher import LiveSubscription
from dosi.security.subscriber import subscriber_view
from dosi.storage.subscription_base import Change


@dataclass(eq=False)
class StreamClient:
    live: LiveSubscription
    opts: RenderOptions
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1000))
    dropped: int = 0
    viewer: Any = None  # the caller's Principal: events show what it may read


class Broadcaster:
    def __init__(self) -> None:
        self._clients: set[StreamClient] = set()

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, live: LiveSubscription, opts: RenderOptions) -> StreamClient:
        client = StreamClient(live, opts)
        self._clients.add(client)
        return client

    def remove(self, client: StreamClient) -> None:
        self._clients.discard(client)

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        """After a commit, on the event loop: queue each matching change per client."""
        if not self._clients:
            return
        now = now_iso()
        for client in list(self._clients):
            live = client.live
            if live.tenant != tenant:
                continue
            for ch in changes:
                trig = live.trigger(ch.before, ch.after)
                if trig is None:
                    continue
                before, after = ch.before, ch.after
                if client.viewer is not None:
                    seen = subscriber_view(client.viewer, tenant, [(before, after, now)])
                    if not seen:
                        continue
                    before, after, _ = seen[0]
                entity = data_entity(before, after, triggers=live.triggers,
                                     watched=live.watched, show_changes=live.show_changes,
                                     at=now)
                event = {
                    "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
                    "type": "Notification",
                    "subscriptionId": live.id,
                    "notifiedAt": now,
                    "triggerReason": trig,
                    "data": [render_data(entity, live.ctx, client.opts, live.show_changes)],
                }
                if client.queue.full():
                    client.queue.get_nowait()
                    client.dropped += 1
                client.queue.put_nowait(event)
