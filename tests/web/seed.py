"""A small site store for the browser tests, written through the one write path (and the
shop-floor actions, so machines, jobs and events agree as they would in real use).

Times are relative to now, so "today's" day sheet always has a show and a travel leg.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core import writes
from core.db import sqlite_url
from core.factory import actions as factory_ops
from core.site import ensure_site, open_store
from core.writes import Actor

PINS = {"ana": "482916", "bruno": "735102", "olga": "619384", "carla": "204857"}
OFFICE_PASSWORD = "oficina-norte-2026"  # olga's, for the office's e-mail login


@dataclass
class Seed:
    data_dir: Path
    ids: dict[str, str] = field(default_factory=dict)


def build(data_dir: Path) -> Seed:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(sqlite_url(data_dir / "site.sqlite3"))
    seed = Seed(data_dir)
    try:
        info = ensure_site(store, org_name="Perfiles Norte", site_name="Planta Norte")
        system = Actor.system(info.org_id)
        ids = seed.ids
        with store.write() as s:

            def make(entity: str, key: str, data: dict) -> None:
                ids[key] = writes.create(s, actor=system, entity=entity, data=data, id=key).id

            make("users", "ana", {"name": "Ana Ruiz", "role": "operator", "language": "es",
                                  "pin": PINS["ana"]})  # fmt: skip
            make("users", "bruno", {"name": "Bruno Silva", "role": "operator", "language": "en",
                                    "pin": PINS["bruno"]})  # fmt: skip
            make("users", "olga", {"name": "Olga Martín", "role": "office", "language": "en",
                                   "pin": PINS["olga"], "email": "olga@example.com",
                                   "password": OFFICE_PASSWORD})  # fmt: skip
            make("users", "carla", {"name": "Carla Vidal", "role": "crew", "language": "es",
                                    "pin": PINS["carla"]})  # fmt: skip
            make("machines", "m1", {"name": "Conformadora 1", "type": "CONFORMADORA",
                                    "color": "#0b5cad", "ideal_rate": "40",
                                    "operator_ids": ["ana"], "maintenance_interval": "5000",
                                    "next_maintenance_at": "5000"})  # fmt: skip
            make("machines", "m2", {"name": "Soldadura 2", "type": "SOLDADURA",
                                    "color": "#c2410c", "operator_ids": ["ana"]})  # fmt: skip
            make("machines", "m3", {"name": "Pintura 3", "type": "PINTURA", "color": "#7c3aed",
                                    "status": "MAINTENANCE"})  # fmt: skip
            make("machines", "m4", {"name": "Panelizado 4", "type": "PANELIZADO",
                                    "color": "#0f766e"})  # fmt: skip
            make("projects", "p1", {"name": "Nave Obra Norte", "status": "ACTIVE"})
            make("jobs", "j1", {"title": "Perfil C 150 · Obra Norte", "machine_id": "m1",
                                "project_id": "p1", "quantity": "500", "unit": "m",
                                "operator_ids": ["ana"], "sequence": 1,
                                "priority": "HIGH"})  # fmt: skip
            make("jobs", "j2", {"title": "Bastidores soldados <b>B-12</b>", "machine_id": "m2",
                                "quantity": "40", "unit": "pcs", "operator_ids": ["ana"],
                                "sequence": 2})  # fmt: skip
            make("jobs", "j3", {"title": "Perfil Z 200", "machine_id": "m1", "quantity": "300",
                                "unit": "m", "operator_ids": ["ana"], "sequence": 3})  # fmt: skip
            make("jobs", "j4", {"title": "Paneles fachada", "machine_id": "m4",
                                "quantity": "120", "unit": "pcs", "operator_ids": ["bruno"],
                                "sequence": 1})  # fmt: skip
            make("alerts", "a1", {"machine_id": "m4", "severity": "CRITICAL",
                                  "message": "Presión hidráulica baja"})  # fmt: skip
            make("alerts", "a2", {"machine_id": "m3", "severity": "WARNING",
                                  "message": "Filtro de cabina al 90 %"})  # fmt: skip
            make("messages", "msg1", {"from_user_id": "olga", "to_user_id": "ana",
                                      "body": "Revisa el stock de bobina <script>x</script> "
                                              "antes de las 12"})  # fmt: skip
            _tour(s, system, ids)
        with store.write() as s:
            factory_ops.start_job(s, actor=system, job_id="j1")
            factory_ops.report_progress(s, actor=system, job_id="j1", produced="120", scrap="4")
    finally:
        store.dispose()
    return seed


def _tour(s, system: Actor, ids: dict[str, str]) -> None:
    madrid = ZoneInfo("Europe/Madrid")
    today = datetime.now(madrid).date()

    def at(day_offset: int, hour: int, minute: int, tz: ZoneInfo) -> str:
        local = datetime(today.year, today.month, today.day, hour, minute, tzinfo=tz)
        return (local + timedelta(days=day_offset)).astimezone(UTC).isoformat()

    def make(entity: str, key: str, data: dict) -> None:
        ids[key] = writes.create(s, actor=system, entity=entity, data=data, id=key).id

    make("shows", "s1", {"city": "Madrid", "country": "ES", "venue": "Sala Riviera",
                         "starts_at": at(0, 21, 30, madrid), "tz": "Europe/Madrid",
                         "fee": "12000", "currency": "EUR", "tour": "Gira Norte",
                         "status": "confirmed", "wht_pct": "15", "booking_pct": "10",
                         "mgmt_pct": "15",
                         "notes": "Prueba de sonido 17:00. Carga por detrás."})  # fmt: skip
    london = ZoneInfo("Europe/London")
    make("shows", "s2", {"city": "London", "country": "GB", "venue": "O2 Forum",
                         "starts_at": at(3, 20, 0, london), "tz": "Europe/London",
                         "fee": "10000", "currency": "GBP", "tour": "Gira Norte",
                         "status": "confirmed", "wht_pct": "20", "booking_pct": "10",
                         "mgmt_pct": "15", "fx_rate": "1.17"})  # fmt: skip
    for key, kind, amount in (("c1", "sound", "800"), ("c2", "light", "600"),
                              ("c3", "transport", "1100")):  # fmt: skip
        make("show_costs", key, {"show_id": "s2", "type": kind, "amount": amount,
                                 "currency": "GBP"})  # fmt: skip
    # Tokyo at 01:00 on its own date (the evening before in Madrid), with a cost in
    # dollars and no rate: the settlement must name it rather than drop it.
    tokyo = ZoneInfo("Asia/Tokyo")
    tokyo_day = today + timedelta(days=5)
    make("shows", "s3", {"city": "Tokyo", "country": "JP", "venue": "Zepp Haneda",
                         "starts_at": datetime(tokyo_day.year, tokyo_day.month, tokyo_day.day,
                                               1, 0, tzinfo=tokyo).astimezone(UTC).isoformat(),
                         "tz": "Asia/Tokyo", "fee": "8000", "currency": "EUR",
                         "tour": "Gira Norte", "status": "confirmed"})  # fmt: skip
    make("show_costs", "c4", {"show_id": "s3", "type": "hotel", "amount": "500",
                              "currency": "USD", "description": "Hotel Shinagawa"})  # fmt: skip
    make("travel", "t1", {"kind": "train", "origin": "Barcelona Sants",
                          "destination": "Madrid Atocha", "departs_at": at(0, 9, 30, madrid),
                          "departs_tz": "Europe/Madrid", "arrives_at": at(0, 12, 15, madrid),
                          "arrives_tz": "Europe/Madrid", "reference": "AVE 03063",
                          "people": ["Carla", "Toni", "Marta"], "show_id": "s1"})  # fmt: skip
    make("travel", "t2", {"kind": "flight", "origin": "MAD", "destination": "LHR",
                          "departs_at": at(2, 10, 5, madrid), "departs_tz": "Europe/Madrid",
                          "arrives_at": at(2, 11, 30, london), "arrives_tz": "Europe/London",
                          "reference": "IB3166", "show_id": "s2"})  # fmt: skip
    make("calendar_entries", "e1", {"kind": "day_off", "title": "Descanso",
                                    "starts_on": (today + timedelta(days=1)).isoformat(),
                                    "location": "Madrid"})  # fmt: skip
