"""A loopback stand-in for the Korean open-data APIs the demo city polls.

Answers in the response envelopes of the real services (AirKorea real-time air quality,
national ITS traffic information, KMA ultra-short-term nowcast) with values from
``dosi.demo.patterns``, so the hub's real adapters poll it exactly as they would poll
data.go.kr / its.go.kr. Missing measurements are ``"-"`` with the AirKorea flags.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dosi.demo import patterns
from dosi.demo.district import District
from dosi.demo.patterns import unit_noise

KST = timezone(timedelta(hours=9))
KEY_ERROR = (
    "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
    "<returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>"
    "<returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>"
)
POLLUTANTS = ("so2", "co", "o3", "no2", "pm10", "pm25")




def airkorea_items(district: District, t: datetime) -> list[dict[str, str | None]]:
    """One AirKorea item per station for the hour ending at ``t`` (KST)."""
    hour = t.astimezone(KST).replace(minute=0, second=0, microsecond=0)
    items = []
    for station in district.stations:
        roadside = station.extra["mangName"] == "도로변대기"
        values = patterns.air_quality(station.id, roadside, hour)
        item: dict[str, str | None] = {"stationName": station.id, "mangName": station.extra["mangName"],
                                       "sidoName": "서울", "dataTime": hour.strftime("%Y-%m-%d %H:00")}
        worst = 0
        for p in POLLUTANTS:
            outage = (unit_noise(f"{station.id}{p}#outage", int(hour.timestamp()) // 3600) + 1) / 2
            if outage < 0.03:
                item[f"{p}Value"], item[f"{p}Grade"] = "-", None
                item[f"{p}Flag"] = "통신장애" if outage < 0.02 else "점검및교정"
                continue
            v = values[p]
            item[f"{p}Value"] = str(v)
            item[f"{p}Grade"] = str(patterns.cai_grade(p, v))
            item[f"{p}Flag"] = None
            worst = max(worst, patterns.cai_index(p, v))
        item["khaiValue"] = str(worst) if worst else "-"
        item["khaiGrade"] = str(1 + sum(worst > b for b in (50, 100, 250))) if worst else None
        items.append(item)
    return items


def its_items(district: District, t: datetime) -> list[dict[str, str]]:
    """National ITS trafficInfo items: 5-minute speed and travel time per link."""
    slot = t.astimezone(KST).replace(second=0, microsecond=0)
    slot = slot.replace(minute=slot.minute - slot.minute % 5)
    items = []
    for link in district.links:
        speed = patterns.traffic_speed(link.link_id, link.free_flow_kmh, slot)
        items.append({
            "roadName": link.road_name, "roadDrcType": "0", "linkNo": "0",
            "linkId": link.link_id, "startNodeId": link.link_id[:-2] + "00",
            "endNodeId": link.link_id[:-2] + "01", "speed": f"{speed:.1f}",
            "travelTime": f"{link.length_m / (speed / 3.6):.1f}",
            "createdDate": slot.strftime("%Y%m%d%H%M%S"),
        })
    return items


def kma_items(nx: int, ny: int, t: datetime) -> tuple[str, str, list[dict]]:
    """KMA getUltraSrtNcst items for grid (nx, ny) at the latest full hour (base time)."""
    base = t.astimezone(KST).replace(minute=0, second=0, microsecond=0)
    if t.astimezone(KST).minute < 40:  # KMA publishes the hour's nowcast at about hh:40
        base -= timedelta(hours=1)
    values = patterns.weather(f"{nx},{ny}", base)
    date, time = base.strftime("%Y%m%d"), base.strftime("%H00")
    items = [{"baseDate": date, "baseTime": time, "category": k, "nx": nx, "ny": ny,
              "obsrValue": str(v)} for k, v in values.items()]
    return date, time, items


def create_app(district: District, service_key: str, clock=lambda: datetime.now(UTC)):
    """The stand-in as an ASGI app; ``serviceKey``/``apiKey`` must equal ``service_key``."""

    def bad_key(request: Request) -> Response | None:
        key = request.query_params.get("serviceKey") or request.query_params.get("apiKey")
        if key != service_key:
            return Response(KEY_ERROR, media_type="application/xml")
        return None

    async def airkorea(request: Request) -> Response:
        if (err := bad_key(request)) is not None:
            return err
        items = airkorea_items(district, clock().astimezone(KST))
        return JSONResponse({"response": {
            "body": {"totalCount": len(items), "items": items, "pageNo": 1,
                     "numOfRows": len(items)},
            "header": {"resultMsg": "NORMAL_CODE", "resultCode": "00"}}})

    async def its(request: Request) -> Response:
        if (err := bad_key(request)) is not None:
            return err
        items = its_items(district, clock().astimezone(KST))
        return JSONResponse({"header": {"resultCode": 0, "resultMsg": "success",
                                        "totalCount": len(items)},
                             "body": {"items": items}})

    async def kma(request: Request) -> Response:
        if (err := bad_key(request)) is not None:
            return err
        nx, ny = int(request.query_params.get("nx", 60)), int(request.query_params.get("ny", 127))
        _, _, items = kma_items(nx, ny, clock().astimezone(KST))
        return JSONResponse({"response": {
            "header": {"resultCode": "00", "resultMsg": "NORMAL_SERVICE"},
            "body": {"dataType": "JSON", "items": {"item": items}, "pageNo": 1,
                     "numOfRows": len(items), "totalCount": len(items)}}})

    return Starlette(routes=[
        Route("/B552584/ArpltnInforInqireSvc/getCtprvnRltmMesureDnsty", airkorea),
        Route("/trafficInfo", its),
        Route("/1360000/VilageFcstInfoService_2.0/getUltraSrtNcst", kma),
    ])
