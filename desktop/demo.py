"""Demo data for screenshots, the benchmark and hands-on trials: a small factory and a
tour, written through the write path like any user's data (so history, outbox and
settlements are real). ``bulk_jobs`` is the exception, for the 100,000-row benchmark."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core import writes
from core.clock import utcnow, uuid7
from core.factory import actions as factory_ops
from core.tour.timezones import to_instant
from core.writes import Actor

MACHINES = [
    ("Conformadora C-1", "CONFORMADORA", "#3d7eff"),
    ("Panelizado P-2", "PANELIZADO", "#2e9e44"),
    ("Soldadura S-1", "SOLDADURA", "#d99a00"),
    ("Pintura L-1", "PINTURA", "#8e5cd9"),
    ("Paneles SIP", "PANELES_SIP", "#1aa3a3"),
    ("Herrería H-3", "HERRERIA", "#b35c1e"),
]
REASONS = ["BREAKDOWN", "SETUP", "MATERIAL"]
PRODUCTS = ["Perfil C", "Panel", "Correa Z", "Chapa", "Viga"]
CITIES = [
    ("Madrid", "ES", "Europe/Madrid", "WiZink Center", "EUR"),
    ("Barcelona", "ES", "Europe/Madrid", "Razzmatazz", "EUR"),
    ("London", "GB", "Europe/London", "O2 Academy Brixton", "GBP"),
    ("Lisboa", "PT", "Europe/Lisbon", "Coliseu", "EUR"),
    ("Paris", "FR", "Europe/Paris", "Olympia", "EUR"),
    ("México", "MX", "America/Mexico_City", "Teatro Metropólitan", "MXN"),
    ("Bogotá", "CO", "America/Bogota", "Movistar Arena", "COP"),
    ("Valencia", "ES", "Europe/Madrid", "Roig Arena", "EUR"),
]


def seed(store: Any, site: Any, actor: Actor, *, seed: int = 7) -> dict[str, list[str]]:
    rnd = random.Random(seed)
    ids: dict[str, list[str]] = {}
    now = utcnow()

    def add(s: Any, entity: str, data: dict[str, Any]) -> str:
        row = writes.create(s, actor=actor, entity=entity, data=data)
        ids.setdefault(entity, []).append(row.id)
        return row.id

    if "factory" in site.modules:
        with store.write() as s:
            for name, tax in (
                ("Construcciones Norte", "B12345678"),
                ("Naves Levante", "B87654321"),
                ("Agro Sur", "A11223344"),
                ("Logística Centro", "B55667788"),
            ):
                add(
                    s,
                    "clients",
                    {
                        "name": name,
                        "tax_id": tax,
                        "contact": "Ana García",
                        "email": f"info@{name.split()[1].lower()}.es",
                        "phone": "+34 600 000 000",
                    },
                )
            for i, cid in enumerate(ids["clients"]):
                add(
                    s,
                    "projects",
                    {
                        "name": f"Nave {i + 1} — {['Norte', 'Este', 'Sur', 'Oeste'][i]}",
                        "client_id": cid,
                        "status": "ACTIVE",
                        "start_date": date.today() - timedelta(days=20 * i),
                        "due_date": date.today() + timedelta(days=30 + 10 * i),
                    },
                )
            for name, type_, colour in MACHINES:
                add(
                    s,
                    "machines",
                    {
                        "name": name,
                        "type": type_,
                        "color": colour,
                        "ideal_rate": Decimal(40),
                        "status": "IDLE",
                        "maintenance_interval": Decimal(50000),
                        "next_maintenance_at": Decimal(50000),
                    },
                )
            for m_i, mid in enumerate(ids["machines"]):
                for j in range(6):
                    add(
                        s,
                        "jobs",
                        {
                            "title": f"OT-{1000 + m_i * 10 + j} {rnd.choice(PRODUCTS)}",
                            "machine_id": mid,
                            "project_id": rnd.choice(ids["projects"]),
                            "priority": rnd.choice(["LOW", "NORMAL", "NORMAL", "HIGH", "URGENT"]),
                            "sequence": (j + 1) * 10,
                            "quantity": Decimal(rnd.choice([500, 800, 1200, 2000])),
                            "due_at": now + timedelta(days=rnd.randint(1, 20)),
                        },
                    )
            for sku, name, qty, rp, unit in (
                ("BOB-075", "Bobina acero 0,75 mm", 12, 5, "t"),
                ("BOB-100", "Bobina acero 1 mm", 3, 5, "t"),
                ("TOR-M8", "Tornillo M8", 4200, 1000, "ud"),
                ("TOR-M10", "Tornillo M10", 800, 1000, "ud"),
                ("PIN-RAL9010", "Pintura RAL 9010", 140, 50, "l"),
                ("PIN-RAL7016", "Pintura RAL 7016", 20, 50, "l"),
                ("ELE-1.2", "Hilo soldadura 1,2", 36, 10, "kg"),
                ("SIP-120", "Núcleo SIP 120", 90, 20, "m2"),
            ):
                add(
                    s,
                    "inventory",
                    {
                        "sku": sku,
                        "name": name,
                        "quantity": Decimal(qty),
                        "reorder_point": Decimal(rp),
                        "unit": unit,
                        "location": rnd.choice(["A-1", "A-2", "B-1", "Patio"]),
                    },
                )
            add(
                s,
                "alerts",
                {
                    "machine_id": ids["machines"][2],
                    "severity": "WARNING",
                    "message": "Mantenimiento en 4.500 m",
                },
            )
            add(s, "alerts", {"severity": "INFO", "message": "Stock bajo: BOB-100"})
            add(
                s,
                "messages",
                {"to_user_id": actor.user_id, "body": "Revisar OT-1021 antes del turno de noche"},
            )
            # History for the OEE chart: a fortnight of one 06:00-14:00 shift a day (the
            # rest of the day a planned stop), with some unplanned stops in the shift.
            for days_ago in range(14, 0, -1):
                start = datetime.combine(date.today() - timedelta(days=days_ago), time(6), UTC)
                for m_i, mid in enumerate(ids["machines"][:4]):
                    stop = rnd.randint(15, 90)
                    made = Decimal(int((480 - stop) * 40 * rnd.uniform(0.78, 0.96)))
                    scrap = int(made * Decimal(rnd.randint(1, 5)) / 100)
                    payload = {"machine_id": mid, "qty": str(made), "scrap": str(scrap)}
                    add(
                        s,
                        "events",
                        {
                            "type": "PRODUCTION",
                            "at": start + timedelta(hours=7),
                            "payload": payload,
                        },
                    )
                    for off_from, off_to in ((-6, 0), (8, 18)):  # 00-06 and 14-24
                        add(
                            s,
                            "downtimes",
                            {
                                "machine_id": mid,
                                "reason": "PLANNED_STOP",
                                "planned": True,
                                "started_at": start + timedelta(hours=off_from),
                                "ended_at": start + timedelta(hours=off_to),
                            },
                        )
                    add(
                        s,
                        "downtimes",
                        {
                            "machine_id": mid,
                            "started_at": start + timedelta(hours=2 + m_i),
                            "ended_at": start + timedelta(hours=2 + m_i, minutes=stop),
                            "reason": rnd.choice(REASONS),
                        },
                    )
        # A few machines at work, through the same actions the tablets use.
        for m_i in (0, 1, 3):
            mid = ids["machines"][m_i]
            job = ids["jobs"][m_i * 6]
            with store.write() as s:
                factory_ops.start_job(s, actor=actor, job_id=job)
                factory_ops.report_progress(
                    s, actor=actor, job_id=job, produced=Decimal(150 + 120 * m_i)
                )
        with store.write() as s:
            factory_ops.set_machine_status(
                s, actor=actor, machine_id=ids["machines"][2], status="MAINTENANCE"
            )
            factory_ops.set_machine_status(
                s, actor=actor, machine_id=ids["machines"][5], status="ERROR"
            )
    if "tour" in site.modules:
        with store.write() as s:
            first = date.today().replace(day=1) - timedelta(days=120)
            for i in range(16):
                city, country, tz, venue, cur = CITIES[i % len(CITIES)]
                day = first + timedelta(days=11 * i + rnd.randint(0, 4))
                fee = Decimal(rnd.choice([8000, 10000, 15000, 22000, 30000]))
                show = add(
                    s,
                    "shows",
                    {
                        "city": city,
                        "country": country,
                        "venue": venue,
                        "tz": tz,
                        # 19:30 at the venue (the place's own clock, as on a contract)
                        "starts_at": to_instant(datetime.combine(day, time(19, 30)), tz),
                        "fee": fee,
                        "currency": cur,
                        "tour": "Gira 2026",
                        "wht_pct": Decimal(20 if cur == "GBP" else 15),
                        "booking_pct": Decimal(10),
                        "mgmt_pct": Decimal(15),
                        "fx_rate": {
                            "EUR": None,
                            "GBP": Decimal("1.17"),
                            "MXN": Decimal("0.052"),
                            "COP": Decimal("0.00023"),
                        }[cur],
                        "status": "completed" if day < date.today() else "confirmed",
                    },
                )
                for type_, amount in (("sound", 800), ("light", 600), ("transport", 1100)):
                    add(
                        s,
                        "show_costs",
                        {
                            "show_id": show,
                            "type": type_,
                            "currency": cur,
                            "amount": Decimal(amount) * (fee / 10000),
                        },
                    )
                add(
                    s,
                    "travel",
                    {
                        "kind": rnd.choice(["bus", "flight", "train"]),
                        "origin": "Madrid",
                        "destination": city,
                        "show_id": show,
                        "departs_tz": tz,
                        "arrives_tz": tz,
                        "departs_at": to_instant(datetime.combine(day, time(9)), tz),
                        "arrives_at": to_instant(datetime.combine(day, time(13)), tz),
                        "reference": f"RES{rnd.randint(10000, 99999)}",
                    },
                )
            add(
                s,
                "calendar_entries",
                {
                    "kind": "rehearsal",
                    "title": "Ensayo general",
                    "starts_on": date.today() + timedelta(days=3),
                },
            )
            add(
                s,
                "calendar_entries",
                {
                    "kind": "day_off",
                    "title": "Día libre",
                    "starts_on": date.today() + timedelta(days=5),
                    "ends_on": date.today() + timedelta(days=6),
                },
            )
    return ids


def bulk_jobs(store: Any, site: Any, n: int, *, machines: int = 8) -> None:
    """``n`` jobs inserted in bulk (benchmark only: bypasses the write path, so no
    audit or outbox entries)."""
    from sqlalchemy import insert

    from core.models import Job, Machine

    now = utcnow()
    base = {
        "version": 1,
        "sync_version": 0,
        "field_versions": {},
        "created_at": now,
        "updated_at": now,
        "updated_by": None,
        "deleted_at": None,
        "extra": None,
        "org_id": site.org_id,
    }
    mids = [uuid7() for _ in range(machines)]
    with store.write() as s:
        s.execute(
            insert(Machine),
            [
                {
                    **base,
                    "id": mid,
                    "name": f"Bench {i}",
                    "type": "CARGA",
                    "status": "IDLE",
                    "operator_ids": [],
                    "is_active": True,
                    "total_meters": Decimal(0),
                }
                for i, mid in enumerate(mids)
            ],
        )
        batch = []
        for i in range(n):
            batch.append(
                {
                    **base,
                    "id": uuid7(),
                    "machine_id": mids[i % machines],
                    "title": f"Bench job {i:06d}",
                    "status": "PENDING",
                    "priority": "NORMAL",
                    "sequence": i,
                    "unit": "m",
                    "quantity": Decimal(100 + i % 900),
                    "produced_qty": Decimal(0),
                    "scrap_qty": Decimal(0),
                    "progress": Decimal(0),
                    "operator_ids": [],
                }
            )
            if len(batch) == 5000:
                s.execute(insert(Job), batch)
                batch = []
        if batch:
            s.execute(insert(Job), batch)
