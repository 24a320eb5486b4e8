"""The ceiling for HTTP figures: the hub's own stack (FastAPI on uvicorn, one process,
same serializer) answering a constant JSON document the size of a bench entity."""

from __future__ import annotations

import sys

import orjson
import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

DOC = {
    "id": "urn:ngsi-ld:TrafficFlowObserved:bench-4242",
    "type": "TrafficFlowObserved",
    "intensity": {"type": "Property", "value": 242, "observedAt": "2026-11-01T00:00:00Z"},
    "averageVehicleSpeed": {"type": "Property", "value": 94, "unitCode": "KMH"},
    "laneId": {"type": "Property", "value": 2},
    "refRoadSegment": {"type": "Relationship", "object": "urn:ngsi-ld:RoadSegment:642"},
    "location": {"type": "GeoProperty",
                 "value": {"type": "Point", "coordinates": [126.9484, 37.5008]}},
}

app = FastAPI()


@app.get("/doc")
async def doc(request: Request) -> Response:
    return Response(orjson.dumps(DOC), media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
