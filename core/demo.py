"""``structura demo``: a local store with realistic demo data for both domains.

A metal-framing factory (machines of every type, queues per machine, jobs in every
state, low stock, alerts, messages, events, today's downtime so OEE means something) and
a touring act (shows over months and currencies with costs and fx rates, travel, days
off and rehearsals, a finance rule in EUR). Names in Spanish and English.

Every row has a fixed id and goes through the one write path. Running it again
refreshes the same rows (an update only where a value differs; times are anchored to
the day, so a second run on the same day changes nothing) and never duplicates them.
The admin's password is random on the first run and printed once; only its hash is
stored. Secrets are never refreshed: a PIN or password changed since stays changed.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core import writes
from core.db import Store
from core.private import private_dir
from core.registry import spec_for
from core.settings import Settings
from core.tour.timezones import to_instant

ADMIN_EMAIL = "admin@structura.local"
ADMIN_ID = "demo-u-admin"
ORG_NAME = "Structura Demo"
# Demo only: printed by the command so people can try the shop-floor and crew pages.
PINS = {
    "demo-u-op1": ("Lucía Fernández", "operator", "es", "482916"),
    "demo-u-op2": ("Javier Gómez", "operator", "es", "735102"),
    "demo-u-op3": ("Tom Baker", "operator", "en", "619384"),
    "demo-u-op4": ("Marta Ruiz", "operator", "es", "204857"),
    "demo-u-crew1": ("Sam Carter", "crew", "en", "817263"),
    "demo-u-crew2": ("Elena Sanz", "crew", "es", "390571"),
}
OFFICE = {
    "demo-u-office1": ("Carmen López", "carmen@structura.local", "es"),
    "demo-u-office2": ("Oliver Hughes", "oliver@structura.local", "en"),
}
MACHINES = [
    ("CONFORMADORA", "Conformadora C-1 / Roll former 1", "Howick", "RUNNING", "40"),
    ("CONFORMADORA", "Conformadora C-2 / Roll former 2", "Scottsdale", "RUNNING", "35"),
    ("PANELIZADO", "Panelizado P-1 / Panel line", "Howick", "IDLE", "12"),
    ("SOLDADURA", "Soldadura S-1 / Welding cell", "Lincoln", "MAINTENANCE", "8"),
    ("PINTURA", "Pintura PT-1 / Paint booth", "Wagner", "RUNNING", "20"),
    ("CARGA", "Carga CG-1 / Loading bay", None, "IDLE", "60"),
    ("PANELES_SIP", "Paneles SIP / SIP press", "Stromab", "ERROR", "6"),
    ("HERRERIA", "Herrería H-1 / Metalwork bench", None, "OFFLINE", "5"),
]
CLIENTS = [
    ("Constructora Gómez S.L.", "B26323822", "Valencia"),
    ("Hogar Modular S.A.", "A28123456", "Madrid"),
    ("Northern Frames Ltd", "GB123456789", "Leeds"),
    ("Viviendas del Sur S.L.", "B41234567", "Sevilla"),
    ("Atlantic Builders Inc.", "US-87-1234567", "Boston"),
    ("Estructuras Norte S.L.", "B48765432", "Bilbao"),
]
STOCK = [
    ("BOB-G550-1", "Bobina acero G550 1.0 mm / Steel coil", "kg", "12500", "4000"),
    ("BOB-G550-08", "Bobina acero G550 0.8 mm / Steel coil", "kg", "2100", "3000"),
    ("TOR-AP-48", "Tornillo autoperforante 4.8 / Self-drilling screw", "ud", "18000", "5000"),
    ("TOR-AP-55", "Tornillo autoperforante 5.5 / Self-drilling screw", "ud", "900", "2000"),
    ("PIN-EPX-GR", "Pintura epoxi gris / Epoxy paint grey", "l", "340", "100"),
    ("PIN-EPX-BL", "Pintura epoxi blanca / Epoxy paint white", "l", "45", "80"),
    ("SIP-120", "Panel SIP 120 mm", "ud", "64", "40"),
    ("SIP-160", "Panel SIP 160 mm", "ud", "12", "30"),
    ("PERF-C89", "Perfil C89 / C89 stud", "m", "5400", "1500"),
    ("PERF-U90", "Perfil U90 / U90 track", "m", "3100", "1200"),
    ("ELEC-SOLD", "Hilo de soldadura / Welding wire", "kg", "75", "50"),
    ("EMB-FILM", "Film de embalaje / Stretch film", "ud", "8", "20"),
]
PROFILES = ["C89", "C140", "C150", "U90", "Z200", "SIP 120", "Cercha / Truss"]
CITIES = [
    ("Madrid", "ES", "Sala La Riviera", "EUR", None, "Europe/Madrid"),
    ("Barcelona", "ES", "Razzmatazz", "EUR", None, "Europe/Madrid"),
    ("London", "GB", "O2 Academy Brixton", "GBP", "1.17", "Europe/London"),
    ("Manchester", "GB", "Albert Hall", "GBP", "1.17", "Europe/London"),
    ("Paris", "FR", "La Cigale", "EUR", None, "Europe/Paris"),
    ("Berlin", "DE", "Columbiahalle", "EUR", None, "Europe/Berlin"),
    ("New York", "US", "Terminal 5", "USD", "0.92", "America/New_York"),
    ("Ciudad de México", "MX", "El Plaza Condesa", "MXN", "0.054", "America/Mexico_City"),
    ("Tokyo", "JP", "Zepp DiverCity", "JPY", "0.0062", "Asia/Tokyo"),
    ("Lisboa", "PT", "Coliseu dos Recreios", "EUR", None, "Europe/Lisbon"),
]


@dataclass
class DemoResult:
    org_id: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    admin_password: str | None = None  # set only when it was set by this run


Row = tuple[str, str, dict[str, Any]]


def _anchor(now: datetime) -> datetime:
    """Midnight UTC of the demo's "today": the day whose morning shift has run (so a
    run early in the morning still shows a shift with downtime), fixed for the day."""
    day = (now - timedelta(hours=10)).date()
    return datetime.combine(day, time(0), tzinfo=UTC)


def factory_rows(now: datetime) -> list[Row]:
    t0 = _anchor(now)
    ops = [u for u, v in PINS.items() if v[1] == "operator"]
    rows: list[Row] = []
    for i, (name, tax, city) in enumerate(CLIENTS, 1):
        rows.append(("clients", f"demo-c-{i}", {
            "name": name, "tax_id": tax, "address": f"{city}",
            "email": f"obra{i}@cliente.example", "phone": f"+34 600 000 {i:03d}",
            "contact": ["Ana Pérez", "John Smith", "Luis Martín"][i % 3],
        }))  # fmt: skip
    statuses = [
        "ACTIVE",
        "ACTIVE",
        "ACTIVE",
        "PLANNING",
        "ON_HOLD",
        "COMPLETED",
        "ACTIVE",
        "CANCELED",
    ]
    for i, status in enumerate(statuses, 1):
        start = (t0 - timedelta(days=60 - 7 * i)).date()
        rows.append(("projects", f"demo-p-{i}", {
            "name": f"Obra {i} - {CLIENTS[(i - 1) % 6][2]} / Site {i}",
            "client_id": f"demo-c-{(i - 1) % 6 + 1}", "status": status,
            "start_date": start, "due_date": start + timedelta(days=90),
            "description": "Estructura de acero conformado en frío / Cold-formed steel frame",
        }))  # fmt: skip
    for i, (mtype, name, brand, status, rate) in enumerate(MACHINES, 1):
        total = Decimal(150_000 * i + 12_345)
        rows.append(("machines", f"demo-m-{i}", {
            "name": name, "type": mtype, "brand": brand, "status": status,
            # The panel line (3) is stopped since 09:32 (its open downtime, below).
            "status_since": t0 + timedelta(hours=9, minutes=32) if i == 3
            else t0 + timedelta(hours=6), "ideal_rate": Decimal(rate),
            "operator_ids": [ops[(i - 1) % 4], ops[i % 4]],
            "color": f"#{(i * 0x2F4F9D) % 0xFFFFFF:06x}", "total_meters": total,
            "maintenance_interval": Decimal(50_000),
            # Two machines near or past their maintenance point: rules have something to say.
            "next_maintenance_at": total + Decimal([30_000, 2_000, -500][i % 3]),
            "category": "Perfiles / Profiles" if i <= 2 else "Línea / Line",
        }))  # fmt: skip
    rows += _jobs(t0, ops)
    for i, (sku, name, unit, qty, reorder) in enumerate(STOCK, 1):
        rows.append(("inventory", f"demo-i-{i}", {
            "sku": sku, "name": name, "unit": unit, "quantity": Decimal(qty),
            "reorder_point": Decimal(reorder), "location": f"Nave {i % 3 + 1} / Hall {i % 3 + 1}",
        }))  # fmt: skip
    rows += _floor(t0, ops)
    return rows


def _jobs(t0: datetime, ops: list[str]) -> list[Row]:
    rows: list[Row] = []
    n = 0
    for m, (_, _, _, mstatus, rate) in enumerate(MACHINES, 1):
        # A queue per machine: done work, the current job, then what waits.
        plan = ["COMPLETED", "COMPLETED", "IN_PROGRESS" if mstatus == "RUNNING" else "PAUSED",
                "PENDING", "PENDING", "PENDING" if m % 2 else "CANCELED"]  # fmt: skip
        daily = _daily(m, rate)
        for seq, status in enumerate(plan):
            n += 1
            qty = Decimal(500 + (n * 373) % 4000)
            current = status in ("IN_PROGRESS", "PAUSED")
            if current:  # two weeks of reports, with room left
                qty = (sum(daily) * Decimal("1.25")).quantize(Decimal(100))
            # Work done before the demo's two weeks: an opening balance (not in OEE).
            produced = qty if status == "COMPLETED" else Decimal(0)
            started = t0 - timedelta(days=REPORT_DAYS if current else 20 - seq, hours=-6)
            rows.append(("jobs", f"demo-j-{n}", {
                "title": f"Perfil {PROFILES[n % len(PROFILES)]} lote {n} / batch {n}",
                "machine_id": f"demo-m-{m}", "project_id": f"demo-p-{n % 7 + 1}",
                "status": status, "priority": ["NORMAL", "HIGH", "LOW", "URGENT"][n % 4],
                "sequence": seq * 10, "unit": "m" if m != 7 else "pcs", "quantity": qty,
                "produced_qty": produced, "scrap_qty": (produced * Decimal("0.03")).quantize(1),
                "operator_ids": [ops[(m + seq) % 4]],
                "due_at": t0 + timedelta(days=seq * 2 - 2, hours=18),
                "started_at": started if status not in ("PENDING", "CANCELED") else None,
                "completed_at": started + timedelta(hours=5) if status == "COMPLETED" else None,
            }))  # fmt: skip
            if current:
                rows += _reports(t0, m, f"demo-j-{n}", daily, ops[(m + seq) % 4])
    return rows


REPORT_DAYS = 14


def _daily(machine_no: int, rate: str) -> list[Decimal]:
    """Metres (or pieces) a machine makes per day over the demo's two weeks: 45-75 % of
    what its ideal rate would make in a day, so the OEE chart has something to show."""
    minutes = Decimal(24 * 60)
    return [
        (Decimal(rate) * minutes * Decimal(45 + (machine_no * 7 + d * 11) % 31) / 100).quantize(1)
        for d in range(REPORT_DAYS)
    ]


def _reports(t0: datetime, m: int, job_id: str, daily: list[Decimal], operator: str) -> list[Row]:
    """One production report per day, oldest first. Reports are append-only: a later
    run finds them by id and leaves them as they are."""
    rows: list[Row] = []
    for back, made in zip(range(REPORT_DAYS - 1, -1, -1), daily, strict=True):
        day = t0 - timedelta(days=back)
        scrap = (made * Decimal("0.03")).quantize(1)
        rows.append(("production_reports", f"demo-r-{m}-{back}", {
            "job_id": job_id, "good_qty": made - scrap, "scrap_qty": scrap,
            "at": day + timedelta(hours=8), "operator_id": operator, "device_id": "demo",
        }))  # fmt: skip
    return rows


def _floor(t0: datetime, ops: list[str]) -> list[Row]:
    shift = t0 + timedelta(hours=6)
    rows: list[Row] = []
    for m in range(1, len(MACHINES) + 1):
        # Today's stops: a planned set-up for everyone, a breakdown on some.
        rows.append(("downtimes", f"demo-d-{m}-setup", {
            "machine_id": f"demo-m-{m}", "started_at": shift,
            "ended_at": shift + timedelta(minutes=15), "reason": "SETUP", "planned": True,
            "notes": "Cambio de formato / Changeover", "reported_by": ops[m % 4],
        }))  # fmt: skip
        if m % 3 == 1:
            start = shift + timedelta(hours=2, minutes=10 * m)
            rows.append(("downtimes", f"demo-d-{m}-break", {
                "machine_id": f"demo-m-{m}", "started_at": start,
                "ended_at": start + timedelta(minutes=25 + 5 * m), "reason": "BREAKDOWN",
                "notes": "Atasco en rodillos / Roller jam", "reported_by": ops[m % 4],
            }))  # fmt: skip
    alerts = [("CRITICAL", "machine_error", 7, "Paneles SIP en error / SIP press in error"),
              ("WARNING", "maintenance_soon", 2, "Mantenimiento próximo / Maintenance soon"),
              ("CRITICAL", "maintenance_due", 3, "Mantenimiento vencido / Maintenance due"),
              ("WARNING", "low_stock", None, "Stock bajo: BOB-G550-08 / Low stock"),
              ("INFO", "manual", 1, "Revisar lote 12 / Check batch 12"),
              ("WARNING", "manual", 5, "Temperatura alta / High temperature")]  # fmt: skip
    for i, (sev, kind, machine_no, msg) in enumerate(alerts, 1):
        raised = t0 - timedelta(hours=30 - 5 * i)
        rows.append(("alerts", f"demo-a-{i}", {
            "machine_id": f"demo-m-{machine_no}" if machine_no else None, "severity": sev,
            "kind": kind,
            "message": msg, "raised_at": raised,
            "dismissed_by": ADMIN_ID if i > 4 else None,
            "dismissed_at": raised + timedelta(hours=1) if i > 4 else None,
        }))  # fmt: skip
    people = [ADMIN_ID, *OFFICE, *ops]
    bodies = ["¿Cuándo entra la bobina?", "The coil arrives at 10:00", "Máquina 3 parada",
              "Can you check batch 12?", "OK 👍", "Cambio de turno a las 14:00"]  # fmt: skip
    for i in range(1, 25):
        sent = t0 - timedelta(hours=48 - 2 * i)
        rows.append(("messages", f"demo-msg-{i}", {
            "from_user_id": people[i % len(people)], "to_user_id": people[(i + 3) % len(people)],
            "body": bodies[i % len(bodies)], "sent_at": sent,
            "read_at": sent + timedelta(minutes=20) if i < 18 else None,
        }))  # fmt: skip
    types = ["LOGIN", "JOB_STARTED", "JOB_COMPLETED", "MACHINE_STATUS", "NOTE"]
    for i in range(1, 81):
        type_ = types[i % len(types)]
        payload = {"note": "demo"}
        if type_ != "LOGIN":
            payload["machine_id"] = f"demo-m-{i % len(MACHINES) + 1}"
        rows.append(("events", f"demo-e-{i}", {
            "type": type_, "user_id": people[i % len(people)], "payload": payload,
            "at": t0 - timedelta(hours=80 - i),
        }))  # fmt: skip
    # An open stop: the panel line waits for material (the board shows it as its state).
    rows.append(("downtimes", "demo-d-3-material", {
        "machine_id": "demo-m-3", "started_at": shift + timedelta(hours=3, minutes=32),
        "reason": "MATERIAL", "notes": "Falta bobina / Waiting for coil",
        "reported_by": ops[3],
    }))  # fmt: skip
    return rows


def tour_rows(now: datetime) -> list[Row]:
    t0 = _anchor(now)
    rows: list[Row] = [("finance_rules", "demo-fr-org", {
        "home_currency": "EUR", "mgmt_base": "gross_less_production", "booking_base": "gross",
    })]  # fmt: skip
    crew = [PINS[u][0] for u in PINS if PINS[u][1] == "crew"]
    for i in range(24):
        city, country, venue, cur, fx, tz = CITIES[i % len(CITIES)]
        day = t0 + timedelta(days=-75 + 9 * i)
        past = day < t0
        status = "completed" if past else ["confirmed", "confirmed", "pending"][i % 3]
        status = "canceled" if i == 5 else "draft" if i == 23 else status
        fee = Decimal(6000 + (i * 2750) % 30000)
        if cur in ("JPY", "MXN") and fx:
            fee = (fee / Decimal(fx)).quantize(Decimal(1000))
        rows.append(("shows", f"demo-s-{i + 1}", {
            "city": city, "country": country, "venue": venue, "tz": tz,
            "starts_at": to_instant(datetime.combine(day.date(), time(20)), tz),
            "fee": fee, "currency": cur,
            "fx_rate": Decimal(fx) if fx else None, "tour": "Gira Norte / North Tour 2026",
            "mgmt_agency": "Norte Artists", "mgmt_pct": Decimal(15),
            "booking_agency": "Primavera Live" if i % 2 else None,
            "booking_pct": Decimal(10) if i % 2 else Decimal(0),
            "wht_pct": Decimal(20) if country in ("GB", "US", "MX", "JP") else Decimal(0),
            "status": status, "notes": "Prueba de sonido 17:00 / Soundcheck 5 pm",
        }))  # fmt: skip
        for k, (ctype, amount) in enumerate([("sound", 800), ("light", 600), ("transport", 1100),
                                             ("hotel", 900)][: 2 + i % 3]):  # fmt: skip
            # Hotels abroad are paid in euros: a cost in another currency carries its rate.
            other = ctype == "hotel" and cur != "EUR"
            rows.append(("show_costs", f"demo-sc-{i + 1}-{k + 1}", {
                "show_id": f"demo-s-{i + 1}", "type": ctype, "amount": Decimal(amount),
                "currency": "EUR" if other else cur,
                "fx_rate": (1 / Decimal(fx)).quantize(Decimal("0.00000001"))
                if other and fx
                else None,
                "description": f"{ctype} - {city}",
            }))  # fmt: skip
        if i % 3 == 0 and i > 0:
            prev = CITIES[(i - 1) % len(CITIES)]
            rows.append(("travel", f"demo-t-{i}", {
                "kind": "flight" if prev[1] != country else "train", "origin": prev[0],
                "destination": city, "departs_at": day - timedelta(hours=14),
                "departs_tz": prev[5], "arrives_at": day - timedelta(hours=10), "arrives_tz": tz,
                "show_id": f"demo-s-{i + 1}", "reference": f"IB{3100 + i}",
                "cost": Decimal(180 * len(crew)), "currency": "EUR", "people": crew,
            }))  # fmt: skip
    for i, (kind, title) in enumerate([("rehearsal", "Ensayo general / Full rehearsal"),
                                       ("day_off", "Día libre / Day off"),
                                       ("promo", "Radio 3 entrevista / Radio interview"),
                                       ("day_off", "Día libre / Day off"),
                                       ("travel_day", "Viaje / Travel day"),
                                       ("rehearsal", "Ensayo / Rehearsal")]):  # fmt: skip
        start: date = (t0 + timedelta(days=-20 + 11 * i)).date()
        rows.append(("calendar_entries", f"demo-cal-{i + 1}", {
            "kind": kind, "title": title, "starts_on": start,
            "ends_on": start + timedelta(days=1) if kind == "rehearsal" else None,
            "location": CITIES[i][0],
        }))  # fmt: skip
    return rows


def user_rows() -> list[Row]:
    rows: list[Row] = [("users", ADMIN_ID, {"name": "Admin Demo", "email": ADMIN_EMAIL,
                                            "role": "admin", "language": "es"})]  # fmt: skip
    for uid, (name, email, lang) in OFFICE.items():
        rows.append(
            ("users", uid, {"name": name, "email": email, "role": "office", "language": lang})
        )
    for uid, (name, role, lang, pin) in PINS.items():
        rows.append(("users", uid, {"name": name, "role": role, "language": lang, "pin": pin}))
    return rows


def _upsert(session: Any, actor: writes.Actor, result: DemoResult, row: Row) -> None:
    entity, row_id, data = row
    spec = spec_for(entity)
    current = session.get(spec.model, (actor.org_id, row_id))
    if current is None:
        writes.create(session, actor=actor, entity=entity, data=data, id=row_id)
        result.created[entity] = result.created.get(entity, 0) + 1
        return
    if spec.append_only or current.deleted_at is not None:
        return  # events are never edited; a row someone deleted stays deleted
    # Secrets are set once: refreshing them would re-hash and hide a change made since.
    # Derived fields (a machine's metres, a job's totals) follow from reports, not data.
    skip = {*spec.secret_inputs, *spec.rules.derived}
    values = {k: v for k, v in data.items() if k not in skip}
    before = current.version
    writes.update(session, actor=actor, entity=entity, id=row_id, data=values)
    if current.version != before:
        result.updated[entity] = result.updated.get(entity, 0) + 1


def _drawing() -> bytes:
    """A small PNG "drawing" of a profile, made with Pillow (no binary in the repo)."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (480, 240), "white")
    pen = ImageDraw.Draw(img)
    pen.rectangle((40, 60, 440, 180), outline="black", width=3)
    for x in range(80, 440, 60):
        pen.line((x, 60, x, 180), fill="navy", width=2)
    pen.text((40, 20), "C-100 x 2400 mm", fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def attachment_rows() -> list[tuple[str, str, str, str, str, bytes]]:
    """(id, owner entity, owner id, file name, caption, bytes) of the demo's files."""
    cutting = b"Lista de corte / cutting list\n12 x 2400 mm C-100\n8 x 1200 mm U-50\n"
    rider = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    return [
        ("demo-a-1", "jobs", "demo-j-1", "plano-C100.png", "Plano / drawing", _drawing()),
        ("demo-a-2", "jobs", "demo-j-1", "corte.txt", "Lista de corte", cutting),
        ("demo-a-3", "shows", "demo-s-1", "rider.pdf", "Rider técnico", rider),
    ]  # fmt: skip


def _attachments(session: Any, actor: writes.Actor, result: DemoResult, blobs: Any) -> None:
    from core.attachments import service
    from core.models import Attachment

    for row_id, owner, owner_id, name, caption, data in attachment_rows():
        blob = service.store_bytes(blobs, data, limits=service.Limits())
        if session.get(Attachment, (actor.org_id, row_id)) is not None:
            continue  # the bytes are back in the store (above); the row stays as it is
        service.add_stored(session, actor, owner_entity=owner, owner_id=owner_id, filename=name,
                           blob=blob, caption=caption, id=row_id)  # fmt: skip
        result.created["attachments"] = result.created.get("attachments", 0) + 1


def seed_demo(
    store: Store,
    *,
    admin_password: str | None = None,
    now: datetime | None = None,
    blobs: Any = None,
) -> DemoResult:
    """Create or refresh the demo rows in the store's organisation (made if missing).
    ``blobs``: where the demo's attachments go (default: beside a SQLite store; a store
    without a blob store gets no attachments)."""
    from core.attachments.blobs import blob_store_beside
    from core.site import ensure_site

    now = now or datetime.now(UTC)
    site = ensure_site(store, org_name=ORG_NAME, site_name="Demo", modules=("factory", "tour"))
    actor = writes.Actor.system(site.org_id)
    result = DemoResult(org_id=site.org_id)
    factory = factory_rows(now)
    # Machines and jobs point at each other: the current job is set after the jobs.
    current = {}
    for entity, row_id, data in factory:
        if entity == "jobs" and data["status"] in ("IN_PROGRESS", "PAUSED"):
            current[data["machine_id"]] = row_id
    with store.write() as session:
        admin = session.get(spec_for("users").model, (site.org_id, ADMIN_ID))
        for row in user_rows():
            entity, row_id, data = row
            if row_id == ADMIN_ID and admin is None:
                admin_password = admin_password or secrets.token_urlsafe(12)
                data = {**data, "password": admin_password}
                result.admin_password = admin_password
            _upsert(session, actor, result, (entity, row_id, data))
        if admin is not None and admin_password:
            writes.update(
                session, actor=actor, entity="users", id=ADMIN_ID,
                data={"password": admin_password},
            )  # fmt: skip
            result.admin_password = admin_password
        for row in [*factory, *tour_rows(now)]:
            entity, row_id, data = row
            _upsert(session, actor, result, (entity, row_id, data))
        for machine_id, job_id in current.items():
            obj = session.get(spec_for("machines").model, (site.org_id, machine_id))
            assert obj is not None  # created just above
            before = obj.version
            writes.update(
                session, actor=actor, entity="machines", id=machine_id,
                data={"current_job_id": job_id},
            )  # fmt: skip
            if obj.version != before and obj.version > 2:
                # A machine made now gets its current job as its second version; only a
                # change to an existing machine counts as a refresh.
                result.updated["machines"] = result.updated.get("machines", 0) + 1
        blobs = blobs or blob_store_beside(store)
        if blobs is not None:
            _attachments(session, actor, result, blobs)
    return result


def command(args: argparse.Namespace, settings: Settings) -> int:
    from core.site import open_store

    if args.admin_password is not None and len(args.admin_password) < 8:
        print("structura demo: the admin password needs at least 8 characters", file=sys.stderr)
        return 2
    if not settings.database_url:
        private_dir(settings.data_dir)
    store = open_store(settings.store_url())
    try:
        from core.attachments.blobs import site_blob_store

        result = seed_demo(store, admin_password=args.admin_password,
                           blobs=site_blob_store(settings.data_dir))  # fmt: skip
    finally:
        store.dispose()
    created = sum(result.created.values())
    updated = sum(result.updated.values())
    where = settings.store_path if not settings.database_url else "the configured database"
    print(f"demo store: {where}")
    print(f"demo data: {created} rows created, {updated} refreshed")
    print(f"log in as {ADMIN_EMAIL}")
    if result.admin_password:
        print(f"  password: {result.admin_password}   (shown once; only its hash is stored)")
    else:
        print("  password: unchanged (set a new one with --admin-password)")
    print("shop-floor and crew PINs (demo only):")
    for name, role, _, pin in PINS.values():
        print(f"  {pin}  {name} ({role})")
    print("start it: structura desktop   (or without a display: structura site serve)")
    return 0
