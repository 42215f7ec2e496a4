"""Spanish and English for the desktop, from one small table.

The registry already carries (en, es) labels for entities; this table covers the words
of the window itself and the field names. English is the key, so a missing Spanish entry
shows English rather than nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QTranslator

_LANG = "en"

ES: dict[str, str] = {
    # window and navigation
    "Board": "Tablero",
    "Shows": "Conciertos",
    "Calendar": "Calendario",
    "Settlement": "Liquidación",
    "Finance": "Finanzas",
    "Charts": "Gráficos",
    "Sync": "Sincronización",
    "Tablets": "Tabletas",
    "Factory": "Fábrica",
    "Tour": "Gira",
    "Queue": "Cola",
    "All jobs": "Todas las órdenes",
    "List": "Lista",
    # actions
    "Search": "Buscar",
    "Search…": "Buscar…",
    "New": "Nuevo",
    "Save": "Guardar",
    "Delete": "Eliminar",
    "Undo": "Deshacer",
    "Export": "Exportar",
    "Refresh": "Actualizar",
    "Print ticket": "Imprimir hoja",
    "Print day sheet": "Imprimir hoja del día",
    "Complete job": "Completar orden",
    "Start job": "Iniciar orden",
    "Pause job": "Pausar orden",
    "Resolve…": "Resolver…",
    "Sync now": "Sincronizar ahora",
    "Cancel": "Cancelar",
    "Apply": "Aplicar",
    "Keep mine": "Mantener lo mío",
    "Keep theirs": "Mantener lo suyo",
    "Mine": "Mío",
    "Theirs": "Suyo",
    "Field": "Campo",
    "History": "Historial",
    "All": "Todos",
    # sync
    "Online": "En línea",
    "Connecting…": "Conectando…",
    "Error": "Error",
    "Revoked": "Dado de baja",
    "Offline": "Sin conexión",
    "Not enrolled": "Sin alta en servidor central",
    "Pending changes": "Cambios pendientes",
    "Last sync": "Última sincronización",
    "Last error": "Último error",
    "Open conflicts": "Conflictos abiertos",
    "never": "nunca",
    "Copy check": "Comprobación de la copia",
    "not checked yet": "aún sin comprobar",
    "in step with the central copy ({at})": "igual que la copia central ({at})",
    "{n} rows differed, {r} repaired ({at})": "{n} filas diferían, {r} reparadas ({at})",
    "none": "ninguno",
    # messages
    "Saved": "Guardado",
    "Nothing to undo": "Nada que deshacer",
    "Undone": "Deshecho",
    "Required": "Obligatorio",
    "This record was changed by someone else.": "Otra persona cambió este registro.",
    "Choose, field by field, which value to keep.": "Elija, campo a campo, qué valor mantener.",
    "The record no longer exists.": "El registro ya no existe.",
    "You are not allowed to do that.": "No tiene permiso para hacer eso.",
    "Please correct the highlighted fields.": "Corrija los campos marcados.",
    "Something went wrong": "Algo salió mal",
    "Exported {n} rows to {path}": "Exportadas {n} filas a {path}",
    "{n} rows": "{n} filas",
    "Scan to open the shop floor pages": "Escanee para abrir las páginas de planta",
    "Pair a tablet": "Emparejar una tableta",
    "Tablet": "Tableta",
    "Pairing code": "Código de emparejamiento",
    "Paired tablets": "Tabletas emparejadas",
    "Unpair": "Desemparejar",
    "unpaired": "desemparejada",
    "waiting for its code": "esperando su código",
    "last seen {when}": "vista por última vez {when}",
    "paired": "emparejada",
    "No tablet paired yet": "Todavía no hay tabletas emparejadas",
    "Unpair this tablet? It must be paired again to log in without limits": (
        "¿Desemparejar esta tableta? Tendrá que emparejarse de nuevo para entrar sin límites"
    ),
    "Tablet unpaired": "Tableta desemparejada",
    "(valid {minutes} minutes, once)": "(válido {minutes} minutos, una vez)",
    "LAN address": "Dirección en la red local",
    "Server": "Servidor",
    "running": "en marcha",
    "stopped": "parado",
    "not available": "no disponible",
    # first run
    "Welcome to Structura": "Bienvenido a Structura",
    "Where should this site keep its data?": "¿Dónde guarda este sitio sus datos?",
    "Organisation": "Organización",
    "Site name": "Nombre del sitio",
    "Modules": "Módulos",
    "Import legacy exports (optional)": "Importar exportaciones antiguas (opcional)",
    "Central server URL (optional)": "URL del servidor central (opcional)",
    "Enrolment code": "Código de alta",
    "Importing…": "Importando…",
    "Browse…": "Examinar…",
    # settlement
    "Gross fee": "Caché bruto",
    "Withholding tax": "Retención",
    "Booking agency": "Agencia de contratación",
    "Management": "Management",
    "Costs": "Costes",
    "of which production": "de ellos producción",
    "Net": "Neto",
    "Home currency": "Moneda local",
    "Period": "Periodo",
    "Month": "Mes",
    "Quarter": "Trimestre",
    "Year": "Año",
    "Currency": "Moneda",
    "Shows count": "Nº conciertos",
    "Revenue per month": "Ingresos por mes",
    "OEE per machine": "OEE por máquina",
    "Low stock": "Stock bajo",
    # fields
    "name": "nombre",
    "title": "título",
    "status": "estado",
    "priority": "prioridad",
    "sequence": "secuencia",
    "quantity": "cantidad",
    "produced_qty": "producido",
    "scrap_qty": "desecho",
    "progress": "progreso",
    "machine_id": "máquina",
    "project_id": "proyecto",
    "client_id": "cliente",
    "due_at": "vence",
    "due_date": "vence",
    "start_date": "inicio",
    "city": "ciudad",
    "country": "país",
    "venue": "sala",
    "starts_at": "fecha",
    "fee": "caché",
    "currency": "moneda",
    "type": "tipo",
    "amount": "importe",
    "description": "descripción",
    "message": "mensaje",
    "severity": "gravedad",
    "body": "texto",
    "location": "ubicación",
    "reorder_point": "punto de pedido",
    "unit": "unidad",
    "email": "correo",
    "phone": "teléfono",
    "address": "dirección",
    "contact": "contacto",
    "tax_id": "NIF",
    "origin": "origen",
    "destination": "destino",
    "departs_at": "salida",
    "arrives_at": "llegada",
    "reference": "referencia",
    "cost": "coste",
    "notes": "notas",
    "updated_at": "modificado",
    "kind": "tipo",
    "operator_ids": "operarios",
    "started_at": "iniciada",
    "completed_at": "completada",
    "status_since": "estado desde",
    "is_active": "activa",
    "brand": "marca",
    "category": "categoría",
    "sku": "SKU",
    "tour": "gira",
    "tz": "zona horaria",
    "Expected": "Se esperaba",
    "Day sheet": "Hoja del día",
    "Show": "Concierto",
    "Travel": "Viajes",
    "Nothing planned": "Nada previsto",
    "RUNNING": "EN MARCHA",
    "IDLE": "EN ESPERA",
    "MAINTENANCE": "MANTENIMIENTO",
    "ERROR": "AVERÍA",
    "OFFLINE": "DESCONECTADA",
    "queue": "cola",
    "next": "siguiente",
    "Formula": "Fórmula",
    "Showing the first {n} open jobs": "Se muestran las primeras {n} órdenes abiertas",
    "sum of costs": "suma de costes",
    "production": "producción",
    "Amount": "Importe",
    "Invalid format": "Formato no válido",
    "Not a valid e-mail address": "Correo electrónico no válido",
    "Must be at least {n}": "Debe ser al menos {n}",
    "Must be at most {n}": "Debe ser como mucho {n}",
    "Must be greater than {n}": "Debe ser mayor que {n}",
    "At most {n} characters": "Como mucho {n} caracteres",
    "At most {n} decimal places": "Como mucho {n} decimales",
    "Choose one of: {options}": "Elija uno de: {options}",
    "Not a currency code (ISO 4217, e.g. EUR)": "No es un código de moneda (ISO 4217, p. ej. EUR)",
    "{name} ({code}) is no longer in use": "{name} ({code}) ya no está en uso",
    "{name} ({code}) is not a currency for payments": "{name} ({code}) no es una moneda para pagos",
    "Not a country code (ISO 3166, e.g. ES)": "No es un código de país (ISO 3166, p. ej. ES)",
    "{name} ({code}) is no longer a country code": "{name} ({code}) ya no es un código de país",
    # tour: time zones and settlements
    "office time": "hora de la oficina",
    "Office time": "Hora de la oficina",
    "Local time": "Hora local",
    "Time zone": "Zona horaria",
    "{time} does not exist in {tz}: the clocks change that night": (
        "{time} no existe en {tz}: esa noche cambia la hora"
    ),
    "Must be a positive decimal rate": "Debe ser un cambio decimal positivo",
    "Cost not counted: {label} {amount} has no rate to {to}; enter the {currency} rate on "
    "the show": "Coste no incluido: {label} {amount} no tiene cambio a {to}; introduzca el "
    "cambio de {currency} en el concierto",
    "No rate from {currency} to {to} on the show: the net in {to} is missing": (
        "El concierto no tiene cambio de {currency} a {to}: falta el neto en {to}"
    ),
    "Incomplete settlement": "Liquidación incompleta",
    "Incomplete": "Incompleto",
    "not converted: {extra}": "sin convertir: {extra}",
    "fx_rate": "cambio a moneda local",
    "fx_rates": "cambios de otras monedas",
    "is_production": "es producción",
    "Print settlement": "Imprimir liquidación",
    "YYYY-MM-DD HH:MM, local time ({zone})": "AAAA-MM-DD HH:MM, hora local ({zone})",
    "Local time of the place, in the zone given in {zone}": (
        "Hora local del lugar, en la zona indicada en {zone}"
    ),
    "The rules of the work do not allow this.": "Las reglas del trabajo no lo permiten.",
    "stopped: {reason} since {since}": "parada: {reason} desde {since}",
    "End stop": "Terminar parada",
    "BREAKDOWN": "avería",
    "SETUP": "preparación",
    "MATERIAL": "sin material",
    "NO_OPERATOR": "sin operario",
    "QUALITY": "calidad",
    "PLANNED_STOP": "parada planificada",
    "OTHER": "otra",
    "short_close_reason": "motivo de cierre corto",
    "doc_number": "número",
}


def detect_language() -> str:
    """The user's language: STRUCTURA_LANG, else the system locale (es or en)."""
    forced = os.environ.get("STRUCTURA_LANG", "").lower()
    if forced[:2] in ("es", "en"):
        return forced[:2]
    from PySide6.QtCore import QLocale

    return "es" if QLocale.system().name().lower().startswith("es") else "en"


def set_language(lang: str) -> None:
    global _LANG
    _LANG = "es" if lang.lower().startswith("es") else "en"
    _install_qt_translations(_LANG)


_QT_TRANSLATORS: list[QTranslator] = []


def _install_qt_translations(lang: str) -> None:
    """Qt's own texts (Yes/No, Cancel, the file dialog) from PySide6's qtbase catalogue,
    and the locale for numbers and dates in Qt widgets."""
    from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

    QLocale.setDefault(QLocale(QLocale.Language.Spanish if lang == "es"
                               else QLocale.Language.English))  # fmt: skip
    app = QCoreApplication.instance()
    if app is None:
        return
    for old in _QT_TRANSLATORS:
        app.removeTranslator(old)
    _QT_TRANSLATORS.clear()
    if lang == "en":
        return
    where = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    translator = QTranslator(app)
    if translator.load(f"qtbase_{lang}", where):
        app.installTranslator(translator)
        _QT_TRANSLATORS.append(translator)


def language() -> str:
    return _LANG


def tr(text: str, **kwargs: object) -> str:
    if _LANG == "es":
        from desktop.labels import UI_ES

        out = ES.get(text) or UI_ES.get(text) or text
    else:
        out = text
    return out.format(**kwargs) if kwargs else out


def choice_label(value: object) -> str:
    """A stored enum value as words ("IN_PROGRESS" -> "In progress" / "En curso")."""
    from desktop.labels import CHOICES

    if value is None or value == "":
        return ""
    text = str(value)
    pair = CHOICES.get(text)
    if pair is not None:
        return pair[1] if _LANG == "es" else pair[0]
    words = text.replace("_", " ").lower()
    return words[:1].upper() + words[1:]


def rows_text(n: int) -> str:
    """ "1 row" / "2,325 rows" with the language's digits."""
    from desktop.models.formatting import number

    return tr("1 row") if n == 1 else tr("{n} rows", n=number(n))


def entity_label(spec: object) -> str:
    label = getattr(spec, "label", ("", ""))
    return label[1] if _LANG == "es" else label[0]


def field_label(name: str) -> str:
    """A field's name in the user's language, from the catalogue every edge shares
    (``apikit.words``), so the console and the desktop call a field the same."""
    from apikit.words import field_label as label

    return label(name, _LANG)


def rule_text(code: str, params: dict[str, object] | None = None) -> str:
    """A rule error's message in the user's language (``apikit.words``, the catalogue
    every edge shares); an unknown code shows as itself."""
    from apikit.words import rule_words
    from core.sync.reasons import fill

    text = rule_words(_LANG).get(code)
    return code if text is None else fill(text, dict(params or {}))


def conflict_text(kind: str, reason: str | None) -> str:
    """A sync conflict record's reason (``core.sync.reasons``) in the user's language."""
    from apikit.words import conflict_template
    from core.sync.reasons import describe

    return describe(kind, reason, lambda key: conflict_template(_LANG, key))


def conflict_kind(kind: str) -> str:
    """What kind of conflict, in words ("Same field changed on two sides")."""
    from apikit.words import conflict_kind as words

    return words(kind, _LANG)
