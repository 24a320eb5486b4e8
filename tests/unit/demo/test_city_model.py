"""The demo district and its patterns: plausible, repeatable, inside the district."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dosi.demo import patterns
from dosi.demo.district import load_district
from dosi.demo.faults import NO_FAULTS, FaultRates, fault_at

KST = timezone(timedelta(hours=9))
WEDNESDAY = datetime(2026, 11, 25, tzinfo=KST)
SATURDAY = datetime(2026, 11, 28, tzinfo=KST)


def test_district_places_lie_in_its_bounding_box_and_ids_are_unique():
    d = load_district()
    west, south, east, north = d.bbox
    places = [*d.stations, *d.car_parks, *d.noise_sensors, *d.bus_stops]
    for place in places:
        lon, lat = place.location
        assert west <= lon <= east and south <= lat <= north, place
    for link in d.links:
        assert 100 < link.length_m < 2_000, link
    assert len({link.link_id for link in d.links}) == len(d.links)
    assert len({p.id for p in d.car_parks}) == len(d.car_parks)


def test_unknown_district_is_a_readable_error():
    with pytest.raises(ValueError, match="no demo district named 'atlantis'"):
        load_district("atlantis")


def test_weekday_rush_hour_is_slower_than_night_and_than_the_weekend():
    at = lambda day, h: patterns.traffic_speed("9900000101", 45, day.replace(hour=h))
    assert at(WEDNESDAY, 8) < 0.75 * at(WEDNESDAY, 3)
    assert at(WEDNESDAY, 18) < 0.75 * at(WEDNESDAY, 3)
    assert at(WEDNESDAY, 8) < at(SATURDAY, 8)


def test_values_are_repeatable_and_bounded():
    t = WEDNESDAY.replace(hour=14, minute=7)
    assert patterns.air_quality("중구", False, t) == patterns.air_quality("중구", False, t)
    for h in range(24):
        occupied = patterns.parking_occupied("sejongno", "commuter", 1000, WEDNESDAY.replace(hour=h))
        assert 0 <= occupied <= 1000
    assert patterns.parking_occupied("sejongno", "commuter", 1000, WEDNESDAY.replace(hour=13)) > \
        patterns.parking_occupied("sejongno", "commuter", 1000, SATURDAY.replace(hour=13))


@pytest.mark.parametrize("pollutant,value,grade", [
    ("pm10", 30, 1), ("pm10", 31, 2), ("pm10", 80, 2), ("pm10", 81, 3), ("pm10", 151, 4),
    ("pm25", 15, 1), ("pm25", 16, 2), ("pm25", 76, 4), ("o3", 0.091, 3), ("no2", 0.03, 1),
])
def test_airkorea_grades_follow_the_cai_breakpoints(pollutant, value, grade):
    assert patterns.cai_grade(pollutant, value) == grade


def test_cai_sub_index_is_continuous_at_breakpoints():
    assert patterns.cai_index("pm10", 30) == 50
    assert patterns.cai_index("pm10", 80) == 100
    assert patterns.cai_index("pm10", 0) == 0


def test_fault_rates_are_respected():
    rates = FaultRates(dropout=0.05, out_of_range=0.02, malformed=0.01)
    seen = {"dropout": 0, "out_of_range": 0, "malformed": 0, None: 0}
    for i in range(20_000):
        seen[fault_at("parking/x", WEDNESDAY + timedelta(seconds=10 * i), rates, 10)] += 1
    assert 600 < seen["dropout"] < 1400
    assert 200 < seen["out_of_range"] < 600
    assert 80 < seen["malformed"] < 320
    assert all(fault_at("parking/x", WEDNESDAY + timedelta(seconds=10 * i), NO_FAULTS, 10) is None
               for i in range(2_000))
