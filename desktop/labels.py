"""Office-facing labels (issue 16): enum values as words, the field names the older
table did not cover, and the window's newer texts, in Spanish and English.

Kept apart from ``desktop.i18n.ES`` so other work adding coded messages there merges
cleanly; ``desktop.i18n.tr`` reads both.
"""

from __future__ import annotations

# Stored enum value -> (English, Spanish). A value nobody listed reads "In progress"
# style from its code in English (never the raw code) and the same in Spanish.
CHOICES: dict[str, tuple[str, str]] = {
    "ACTIVE": ("Active", "Activo"),
    "BREAKDOWN": ("Breakdown", "Avería"),
    "CANCELED": ("Cancelled", "Cancelado"),
    "CARGA": ("Loading", "Carga"),
    "COMPLETED": ("Completed", "Completado"),
    "CONFORMADORA": ("Forming", "Conformadora"),
    "CRITICAL": ("Critical", "Crítica"),
    "ERROR": ("Fault", "Avería"),
    "HERRERIA": ("Metalwork", "Herrería"),
    "HIGH": ("High", "Alta"),
    "IDLE": ("Idle", "En espera"),
    "INFO": ("Information", "Información"),
    "IN_PROGRESS": ("In progress", "En curso"),
    "LOW": ("Low", "Baja"),
    "MAINTENANCE": ("Maintenance", "Mantenimiento"),
    "MATERIAL": ("Material", "Material"),
    "NORMAL": ("Normal", "Normal"),
    "NO_OPERATOR": ("No operator", "Sin operario"),
    "OFFLINE": ("Offline", "Desconectada"),
    "ON_HOLD": ("On hold", "En pausa"),
    "OTHER": ("Other", "Otro"),
    "PANELES_SIP": ("SIP panels", "Paneles SIP"),
    "PANELIZADO": ("Panelling", "Panelizado"),
    "PAUSED": ("Paused", "Pausada"),
    "PENDING": ("Pending", "Pendiente"),
    "PINTURA": ("Painting", "Pintura"),
    "PLANNED_STOP": ("Planned stop", "Parada planificada"),
    "PLANNING": ("Planning", "Planificación"),
    "QUALITY": ("Quality", "Calidad"),
    "RUNNING": ("Running", "En marcha"),
    "SETUP": ("Set-up", "Preparación"),
    "SOLDADURA": ("Welding", "Soldadura"),
    "URGENT": ("Urgent", "Urgente"),
    "WARNING": ("Warning", "Aviso"),
    "admin": ("Administrator", "Administrador"),
    "backline": ("Backline", "Backline"),
    "bus": ("Bus", "Autobús"),
    "canceled": ("Cancelled", "Cancelado"),
    "car": ("Car", "Coche"),
    "catering": ("Catering", "Catering"),
    "completed": ("Completed", "Completado"),
    "confirmed": ("Confirmed", "Confirmado"),
    "crew": ("Crew", "Equipo"),
    "day_off": ("Day off", "Día libre"),
    "draft": ("Draft", "Borrador"),
    "en": ("English", "Inglés"),
    "es": ("Spanish", "Español"),
    "flight": ("Flight", "Vuelo"),
    "gross": ("Gross", "Bruto"),
    "gross_less_production": ("Gross less production", "Bruto menos producción"),
    "hotel": ("Hotel", "Hotel"),
    "kg": ("kg", "kg"),
    "l": ("litres", "litros"),
    "light": ("Lighting", "Iluminación"),
    "low_stock": ("Low stock", "Stock bajo"),
    "m": ("metres", "metros"),
    "m2": ("m²", "m²"),
    "machine_error": ("Machine fault", "Avería de máquina"),
    "maintenance_due": ("Maintenance due", "Mantenimiento vencido"),
    "maintenance_soon": ("Maintenance soon", "Mantenimiento próximo"),
    "manual": ("Manual", "Manual"),
    "office": ("Office", "Oficina"),
    "operator": ("Operator", "Operario"),
    "other": ("Other", "Otro"),
    "pcs": ("pieces", "piezas"),
    "pending": ("Pending", "Pendiente"),
    "promo": ("Promotion", "Promoción"),
    "rehearsal": ("Rehearsal", "Ensayo"),
    "show": ("Show", "Concierto"),
    "sound": ("Sound", "Sonido"),
    "t": ("tonnes", "toneladas"),
    "train": ("Train", "Tren"),
    "transport": ("Transport", "Transporte"),
    "travel_day": ("Travel day", "Día de viaje"),
    "ud": ("units", "unidades"),
}

# The window's texts added for issue 16 (trash, unsaved prompt, users, start-up, …).
UI_ES: dict[str, str] = {
    "Trash": "Papelera",
    "Restore": "Restaurar",
    "Restored": "Restaurado",
    "Deleted": "Eliminado",
    "Deleted — it can be restored from the Trash": (
        "Eliminado — se puede restaurar desde la Papelera"
    ),
    "Record": "Registro",
    "Type": "Tipo",
    "Deleted at": "Eliminado el",
    "Deleted by": "Eliminado por",
    "Nothing in the trash": "La papelera está vacía",
    "Unsaved changes": "Cambios sin guardar",
    "You have changed this record. Save the changes before leaving it?": (
        "Ha cambiado este registro. ¿Guardar los cambios antes de salir?"
    ),
    "Discard": "Descartar",
    "1 row": "1 fila",
    "Expected a whole number": "Se esperaba un número entero",
    "Expected a number": "Se esperaba un número",
    "Expected a date (YYYY-MM-DD)": "Se esperaba una fecha (AAAA-MM-DD)",
    "Expected a date and time (YYYY-MM-DD HH:MM)": (
        "Se esperaba una fecha y hora (AAAA-MM-DD HH:MM)"
    ),
    "Expected JSON": "Se esperaba JSON",
    "Expected a value": "Se esperaba un valor",
    "Delete this record?": "¿Eliminar este registro?",
    "It goes to the Trash, where it can be restored.": (
        "Irá a la Papelera, desde donde se puede restaurar."
    ),
    "Reordered the queue": "Cola reordenada",
    "created": "creado",
    "updated": "modificado",
    "deleted": "eliminado",
    "restored": "restaurado",
    "system": "sistema",
    "version {n}": "versión {n}",
    "Exporting…": "Exportando…",
    "Export cancelled": "Exportación cancelada",
    "Printing…": "Imprimiendo…",
    "Import cancelled: nothing was imported.": "Importación cancelada: no se importó nada.",
    "{n} imported, {m} refused": "{n} importados, {m} rechazados",
    "The LAN port {port} is already in use": "El puerto de red {port} ya está en uso",
    "Another program (or another Structura) is listening on it. Tablets cannot connect "
    "until the local API runs on a free port.": (
        "Otro programa (u otro Structura) lo está usando. Las tabletas no pueden conectar "
        "hasta que la API local funcione en un puerto libre."
    ),
    "Use port {port}": "Usar el puerto {port}",
    "The local API could not start": "La API local no pudo arrancar",
    "The local API is starting…": "La API local está arrancando…",
    "Tablets connect at": "Las tabletas se conectan en",
    "Dark mode": "Modo oscuro",
    "View": "Ver",
    "Users and PINs": "Usuarios y PIN",
}

# Tablets page and start-up problems.
UI_ES.update(
    {
        "Local API": "API local",
        "Announcement": "Anuncio en la red",
        "Sync agent": "Agente de sincronización",
        "not configured": "sin configurar",
        "failed": "falló",
        "The LAN port {port} cannot be used": "El puerto de red {port} no se puede usar",
        "This computer does not allow Structura to listen on it. Choose a port above 1024.": (
            "Este ordenador no permite a Structura usarlo. Elija un puerto por encima de 1024."
        ),
        "The data store is locked": "El almacén de datos está bloqueado",
        "Another program holds the site's data file. Close it and start Structura again.": (
            "Otro programa tiene abierto el archivo de datos. Ciérrelo y vuelva a abrir Structura."
        ),
        "The central server cannot be reached": "No se puede contactar con el servidor central",
        "Work continues here; changes are sent when it answers again.": (
            "El trabajo sigue aquí; los cambios se envían cuando vuelva a responder."
        ),
    }
)

# Start-up problems (desktop.views.startup_problem) and the sync panel's words.
UI_ES.update(
    {
        "Structura is already open with this data": ("Structura ya está abierto con estos datos"),
        "Another Structura window (process {pid}) is using the data in {path}. "
        "Switch to that window, or close it and press Try again.": (
            "Otra ventana de Structura (proceso {pid}) está usando los datos de {path}. "
            "Cambie a esa ventana, o ciérrela y pulse Reintentar."
        ),
        "Another program is holding the data file {path} (a copy or a backup in "
        "progress?). Wait for it to finish or close it, then press Try again.": (
            "Otro programa tiene ocupado el archivo de datos {path} (¿una copia o una "
            "copia de seguridad en curso?). Espere a que termine o ciérrelo y pulse "
            "Reintentar."
        ),
        "This data was made by a newer Structura": (
            "Estos datos son de una versión más reciente de Structura"
        ),
        "The data in {path} was last opened by a newer release of Structura. This "
        "release cannot read it safely and has changed nothing. Install the newer "
        "release on this computer to open it.": (
            "Los datos de {path} los abrió por última vez una versión más reciente de "
            "Structura. Esta versión no puede leerlos con seguridad y no ha cambiado "
            "nada. Instale la versión más reciente en este ordenador para abrirlos."
        ),
        "Joining the organisation needs it this once: check its address and the network, "
        "then press Try again.": (
            "Unirse a la organización lo necesita esta vez: compruebe su dirección y la red "
            "y pulse Reintentar."
        ),
        "Try again": "Reintentar",
        "Details": "Detalles",
        "{title} {done} of {total}": "{title} {done} de {total}",
        "Quit": "Salir",
        "Structura tries again by itself; nothing needs doing.": (
            "Structura vuelve a intentarlo sola; no hace falta hacer nada."
        ),
        "Central server": "Servidor central",
        "Not reachable since {at}": "Sin respuesta desde {at}",
        "Next try within {s} s": "Próximo intento en {s} s como mucho",
    }
)

# Users and PINs.
UI_ES.update(
    {
        "Reset PIN…": "Restablecer PIN…",
        "New PIN (digits only)": "PIN nuevo (solo cifras)",
        "PIN changed": "PIN cambiado",
        "Deactivate": "Desactivar",
        "Activate": "Activar",
        "Deactivated": "Desactivado",
        "Activated": "Activado",
        "is_active": "activo",
    }
)

# A show's linked records.
UI_ES.update(
    {
        "Nothing here yet for this show. Add it in the {page} page.": (
            "Todavía no hay nada para este concierto. Añádalo en la página {page}."
        ),
        "Choose a show in the list.": "Elija un concierto en la lista.",
    }
)

# First run and empty pages.
UI_ES.update(
    {
        "Start empty": "Empezar vacío",
        "Start with demo data": "Empezar con datos de ejemplo",
        "Begin with": "Empezar con",
        "Nothing matches the search. Clear it to see all.": (
            "Nada coincide con la búsqueda. Bórrela para ver todo."
        ),
        "No {what} yet. Press New (Ctrl+N) to add the first, fill in the form and Save.": (
            "Todavía no hay {what}. Pulse Nuevo (Ctrl+N) para añadir el primero, rellene el "
            "formulario y Guarde."
        ),
        "Nothing recorded yet: entries appear here as they happen.": (
            "Nada registrado todavía: las entradas aparecen aquí a medida que ocurren."
        ),
    }
)

# Editor hints.
UI_ES.update({"YYYY-MM-DD HH:MM": "AAAA-MM-DD HH:MM", "YYYY-MM-DD": "AAAA-MM-DD",
              "a, b, c": "a, b, c"})  # fmt: skip

# Printouts and settlement sheets.
UI_ES.update({"Number": "Número", "Settlement sheet (Excel)": "Hoja de liquidación (Excel)"})

# Charts.
UI_ES.update({"Downtime by reason (hours)": "Paradas por motivo (horas)"})

# Files and photos of a record (issue 19).
UI_ES.update(
    {
        "Files": "Archivos",
        "File": "Archivo",
        "Drop files here, or paste a screenshot (Ctrl+V).": (
            "Suelte archivos aquí o pegue una captura de pantalla (Ctrl+V)."
        ),
        "Caption for the next files (optional)": "Nota para los próximos archivos (opcional)",
        "No files yet.": "Todavía no hay archivos.",
        "Choose a record to see its files.": "Elija un registro para ver sus archivos.",
        "Not here yet": "Aún no ha llegado",
        "Not here yet: this file has not reached this computer. It comes with the next sync.": (
            "Aún no ha llegado: este archivo todavía no está en este ordenador. Llegará con la "
            "próxima sincronización."
        ),
        "Try again": "Reintentar",
        "Add files…": "Añadir archivos…",
        "Save as…": "Guardar como…",
        "Loading…": "Cargando…",
        "PDF drawing": "Plano PDF",
        "Press View to open it.": "Pulse Ver para abrirlo.",
        "screenshot": "captura",
        "There is no image or file to paste.": "No hay ninguna imagen ni archivo para pegar.",
        "Photos and PDF (*.jpg *.jpeg *.png *.webp *.pdf);;All files (*)": (
            "Fotos y PDF (*.jpg *.jpeg *.png *.webp *.pdf);;Todos los archivos (*)"
        ),
        "Only files can be attached, not folders.": (
            "Solo se pueden adjuntar archivos, no carpetas."
        ),
        "Attaching files…": "Adjuntando archivos…",
        "{n} files attached": "{n} archivos adjuntados",
        "1 file attached": "1 archivo adjuntado",
        "Delete file": "Eliminar archivo",
        "too large to attach ({size})": "demasiado grande para adjuntarlo ({size})",
        "could not be read ({error})": "no se pudo leer ({error})",
        "Opening…": "Abriendo…",
        "Close": "Cerrar",
        "Saving…": "Guardando…",
        "Saved to {path}": "Guardado en {path}",
        "Delete this file?": "¿Eliminar este archivo?",
    }
)
