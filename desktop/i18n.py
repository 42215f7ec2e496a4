"""Spanish and English for the desktop, from one small table.

The registry already carries (en, es) labels for entities; this table covers the words
of the window itself and the field names. English is the key, so a missing Spanish entry
shows English rather than nothing.
"""

from __future__ import annotations

import os

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


def language() -> str:
    return _LANG


def tr(text: str, **kwargs: object) -> str:
    out = ES.get(text, text) if _LANG == "es" else text
    return out.format(**kwargs) if kwargs else out


def entity_label(spec: object) -> str:
    label = getattr(spec, "label", ("", ""))
    return label[1] if _LANG == "es" else label[0]


def field_label(name: str) -> str:
    text = tr(name)
    if text == name:  # no translation: derive from the name (machine_id -> Machine)
        text = name.removesuffix("_id") if name != "tax_id" else "tax ID"
    return text.replace("_", " ")[:1].upper() + text.replace("_", " ")[1:]
