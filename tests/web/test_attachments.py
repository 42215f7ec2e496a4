"""Files and photos from the LAN pages: a photo taken on the tablet at the machine is
shrunk there, sent, stored once, and read by the desktop's attachments presenter with
the same SHA-256; a photo taken while the site is away waits on the tablet and is sent
when it comes back; a file whose bytes have not reached the site says "not here yet".
Screenshots at tablet and phone widths, in Spanish and English."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from core.attachments.blobs import site_blob_store
from core.db import sqlite_url
from core.site import ensure_site, open_store
from desktop.presenters.attachments import FileItem, list_files
from tests.web.conftest import PHONE, SHOTS, TABLET, Server, enter_pin, login
from tests.web.test_i18n import assert_spanish, english_fragments

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 800}
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

# A camera's photo, made in the page (a canvas with noise, so it is not trivially small).
PHOTO_JS = """async ([w, h, seed]) => {
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const x = c.getContext("2d");
  const g = x.createLinearGradient(0, 0, w, h);
  g.addColorStop(0, "#0b5cad"); g.addColorStop(1, "#c2410c");
  x.fillStyle = g; x.fillRect(0, 0, w, h);
  let s = seed;
  for (let i = 0; i < 4000; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x.fillStyle = `hsl(${s % 360} 70% 50%)`;
    x.fillRect(s % w, (s >> 8) % h, 40, 40);
  }
  x.fillStyle = "#fff"; x.font = "bold 160px sans-serif"; x.fillText("DEFECT " + seed, 80, 300);
  const blob = await new Promise((r) => c.toBlob(r, "image/jpeg", 0.95));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(out);
}"""


def photo(page: Any, seed: int, w: int = 3000, h: int = 2000) -> bytes:
    return base64.b64decode(page.evaluate(PHOTO_JS, [w, h, seed]))


def image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size


def desktop_files(data_dir: Path, owner: str, owner_id: str) -> list[FileItem]:
    """What the desktop's Files tab lists for the record (its presenter, on the same
    site store and blob store the site server uses)."""
    store = open_store(sqlite_url(data_dir / "site.sqlite3"))
    try:
        info = ensure_site(store, org_name="Perfiles Norte", site_name="Planta Norte")
        session = SimpleNamespace(store=store, org_id=info.org_id,
                                  read=store.read, site=info)  # fmt: skip
        return list_files(session, site_blob_store(data_dir), owner, owner_id)
    finally:
        store.dispose()


def shot(page: Any, name: str) -> Path:
    """What the screen shows (a dialog over the page): the viewport, not the full page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_files(page: Any, job: str) -> None:
    page.locator(f'#jobs .card[data-job-id="{job}"] [data-action="files"]').click()
    expect(page.locator("#files-dialog")).to_be_visible()
    expect(page.locator("#files-list[data-loaded-at]")).to_have_count(1)


def pick(page: Any, data: bytes, name: str, selector: str = "#files-photo") -> None:
    page.locator(selector).set_input_files(
        files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}]
    )


def test_photo_from_the_tablet_is_shrunk_and_reaches_the_desktop(new_page, seed) -> None:
    page = new_page(viewport=WIDE)
    login(page, "ana", "/app/jobs")
    page.locator('#jobs .card[data-job-id="j1"]').wait_for()
    original = photo(page, 7)
    assert image_size(original) == (3000, 2000)
    open_files(page, "j1")
    page.locator("#files-caption").fill("Rebaba en el borde")
    pick(page, original, "IMG_0007.JPG")
    row = page.locator("#files-list li.file", has_text="IMG_0007.jpg")
    expect(row).to_be_visible()
    expect(row.locator(".thumb img")).to_have_count(1)
    expect(row).to_contain_text("Rebaba en el borde")
    expect(page.locator("#files-state")).to_contain_text("Adjuntado: IMG_0007.jpg")
    sha = row.get_attribute("data-sha256")

    # The desktop's presenter lists it with the same hash; the bytes are the shrunk ones.
    items = [f for f in desktop_files(seed.data_dir, "jobs", "j1") if f.sha256 == sha]
    assert len(items) == 1
    item = items[0]
    assert item.here and item.media_type == "image/jpeg" and item.caption == "Rebaba en el borde"
    stored = site_blob_store(seed.data_dir).path(sha).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == sha and len(stored) == item.size
    assert image_size(stored) == (2048, 1365)
    assert len(stored) < len(original)

    # Viewed inline, downloaded under its name with the stored bytes.
    row.locator('[data-action="view"]').click()
    expect(page.locator("#viewer-dialog img.viewer-img")).to_be_visible()
    natural = page.evaluate("document.querySelector('#viewer-dialog img').naturalWidth")
    assert natural == 2048
    with page.expect_download() as dl:
        page.locator("#viewer-download").click()
    assert dl.value.suggested_filename == "IMG_0007.jpg"
    assert hashlib.sha256(Path(dl.value.path()).read_bytes()).hexdigest() == sha


def test_a_file_of_a_refused_kind_is_explained_and_not_kept(new_page, seed) -> None:
    page = new_page(viewport=PHONE)
    login(page, "ana", "/app/jobs")
    page.locator('#jobs .card[data-job-id="j3"]').wait_for()
    open_files(page, "j3")
    page.locator("#files-file").set_input_files(
        files=[
            {
                "name": "programa.exe",
                "mimeType": "application/octet-stream",
                "buffer": b"MZ\x90\x00" + bytes(300),
            }
        ]
    )
    expect(page.locator("#files-state")).to_contain_text("no se puede adjuntar")
    expect(page.locator("#alerts-live")).to_contain_text("no se puede adjuntar")
    expect(page.locator("#pending")).to_be_hidden()  # refused, not kept for later
    assert not [
        f for f in desktop_files(seed.data_dir, "jobs", "j3") if f.filename == "programa.exe"
    ]


def test_photo_taken_offline_waits_on_the_tablet_and_is_sent_when_the_site_is_back(
    browser, own_site: Server
) -> None:
    ctx = browser.new_context(viewport=TABLET, locale="es-ES", base_url=own_site.url,
                              timezone_id="Europe/Madrid")  # fmt: skip
    ctx.set_default_timeout(10000)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/app/login?next=/app/jobs")
        enter_pin(page, "ana")
        page.wait_for_url(re.compile(r".*/app/jobs$"))
        page.locator('#jobs .card[data-job-id="j1"]').wait_for()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        original = photo(page, 11, 2400, 3200)  # portrait
        open_files(page, "j1")

        own_site.stop()
        pick(page, original, "defecto.jpg", "#files-file")
        expect(page.locator("#files-state")).to_contain_text("Guardado en este dispositivo")
        expect(page.locator("#pending")).to_have_text("1 pendientes de enviar")
        waiting = page.locator("#files-list li.file-pending")
        expect(waiting).to_have_count(1)
        expect(waiting).to_contain_text("Pendiente de enviar")
        # The card says so too, while the dialog is closed.
        page.locator("#files-dialog [data-close]").click()
        expect(page.locator('[data-pending-for="j1"]')).to_contain_text("defecto.jpg")
        assert not desktop_files(own_site.data_dir, "jobs", "j1")

        own_site.start()  # same port: the page retries on its own
        expect(page.locator("#pending")).to_be_hidden(timeout=20000)
        items = desktop_files(own_site.data_dir, "jobs", "j1")
        assert len(items) == 1 and items[0].filename == "defecto.jpg" and items[0].here
        stored = site_blob_store(own_site.data_dir).path(items[0].sha256).read_bytes()
        assert image_size(stored) == (1536, 2048)
        open_files(page, "j1")
        expect(page.locator("#files-list li.file")).to_have_count(1)
        expect(page.locator("#files-list li.file-pending")).to_have_count(0)
        assert not errors, errors
    finally:
        ctx.close()


def upload_via_api(url: str, token: str, owner: str, owner_id: str, name: str,
                   data: bytes) -> dict[str, Any]:  # fmt: skip
    r = httpx.post(f"{url}/api/attachments", headers={"Authorization": "Bearer " + token},
                   data={"owner_entity": owner, "owner_id": owner_id},
                   files={"file": (name, data, "image/jpeg")})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.parametrize(("lang", "user", "locale"), [("es", "ana", "es-ES"),
                                                      ("en", "olga", "en-GB")])  # fmt: skip
def test_files_dialog_at_tablet_and_phone_widths_with_a_file_not_here_yet(
    new_page, seed, lang: str, user: str, locale: str
) -> None:
    page = new_page(viewport=WIDE, locale=locale)
    login(page, user, "/app/jobs")
    page.locator('#jobs .card[data-job-id="j3"]').wait_for()
    token = page.evaluate("sessionStorage.getItem('structura.access')")
    # One file whose bytes are here, one whose bytes have not arrived (removed here, as
    # if its row came by sync before its bytes).
    upload_via_api(
        page.url.split("/app")[0],
        token,
        "jobs",
        "j3",
        f"plano-{lang}.jpg",
        photo(page, 21 if lang == "es" else 22, 1200, 800),
    )
    gone = upload_via_api(
        page.url.split("/app")[0],
        token,
        "jobs",
        "j3",
        f"rebaba-{lang}.jpg",
        photo(page, 23 if lang == "es" else 24, 800, 600),
    )
    site_blob_store(seed.data_dir).path(gone["sha256"]).unlink()

    for viewport, width in ((WIDE, "tablet"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        open_files(page, "j3")
        missing = page.locator(f'#files-list li.file[data-attachment-id="{gone["id"]}"]')
        expect(missing.locator('.thumb[data-state="not-here"]')).to_be_visible()
        expect(missing).to_contain_text("Aún no ha llegado" if lang == "es" else "Not here yet")
        here = page.locator("#files-list li.file", has_text=f"plano-{lang}.jpg")
        expect(here.locator(".thumb img")).to_be_visible()
        if lang == "es":
            assert_spanish(page, "files dialog", english_fragments())
        # Nothing sticks out sideways at either width.
        wide = page.evaluate("[document.querySelector('#files-dialog').scrollWidth,"
                             " document.querySelector('#files-dialog').clientWidth]")  # fmt: skip
        assert wide[0] <= wide[1] + 1, wide
        shot(page, f"files-{lang}-{width}")
        # Viewing the missing one: the same message with a retry, never an error page.
        missing.locator('[data-action="view"]').click()
        expect(page.locator("#viewer-body .not-here")).to_be_visible()
        expect(page.locator('#viewer-body [data-action="retry"]')).to_be_visible()
        shot(page, f"files-not-here-{lang}-{width}")
        page.locator("#viewer-dialog [data-close]").click()
        here.locator('[data-action="view"]').click()
        expect(page.locator("#viewer-dialog img.viewer-img")).to_be_visible()
        shot(page, f"files-viewer-{lang}-{width}")
        page.locator("#viewer-dialog [data-close]").click()
        page.locator("#files-dialog [data-close]").click()


def test_crew_attaches_to_the_show_and_sees_the_travel_leg_files(new_page, seed) -> None:
    page = new_page(viewport=PHONE)
    login(page, "carla", "/app/day")
    show = page.locator("#day article.show").first
    show.wait_for()
    show.locator('[data-action="files"]').click()
    expect(page.locator("#files-dialog")).to_be_visible()
    expect(page.locator("#files-list[data-loaded-at]")).to_have_count(1)
    expect(page.locator("#files-photo")).to_have_attribute("capture", "environment")
    show_id = show.get_attribute("data-show-id")
    pick(page, photo(page, 51, 1200, 1600), "rider.jpg", "#files-file")
    expect(page.locator("#files-list li.file", has_text="rider.jpg")).to_be_visible()
    assert [f.filename for f in desktop_files(seed.data_dir, "shows", show_id)] == ["rider.jpg"]
    shot(page, "files-show-crew-es-phone")
    page.locator("#files-dialog [data-close]").click()
    page.goto("/app/travel")
    leg = page.locator("#travel li.travel-leg").first
    leg.wait_for()
    leg.locator('[data-action="files"]').click()
    expect(page.locator("#files-dialog")).to_be_visible()
    expect(page.locator("#files-list[data-loaded-at]")).to_have_count(1)
    shot(page, "files-travel-crew-es-phone")


def axe_violations(page: Any, selector: str) -> list[str]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async (sel) => await axe.run(document.querySelector(sel), {runOnly: {type: "tag",
             values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})""",
        selector,
    )
    return [f"{v['id']}: {n['target']} {n.get('failureSummary', '')[:160]}"
            for v in result["violations"] for n in v["nodes"]]  # fmt: skip


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["tablet", "phone"])
def test_files_dialog_and_viewer_pass_axe(browser, server: str, seed, viewport) -> None:
    if not AXE.exists():
        pytest.skip("axe-core not installed: npm ci --prefix tests/web")
    # bypass_csp: axe-core is injected as an inline script, which the pages' CSP forbids.
    ctx = browser.new_context(viewport=viewport, locale="es-ES", base_url=server,
                              timezone_id="Europe/Madrid", bypass_csp=True)  # fmt: skip
    ctx.set_default_timeout(10000)
    n = viewport["width"]  # names and bytes of this run's own
    try:
        page = ctx.new_page()
        login(page, "ana", "/app/jobs")
        page.locator('#jobs .card[data-job-id="j1"]').wait_for()
        token = page.evaluate("sessionStorage.getItem('structura.access')")
        gone = upload_via_api(
            server, token, "jobs", "j1", f"axe-{n}.jpg", photo(page, 31 + n, 400, 300)
        )
        site_blob_store(seed.data_dir).path(gone["sha256"]).unlink()
        upload_via_api(
            server, token, "jobs", "j1", f"axe-here-{n}.jpg", photo(page, 41 + n, 400, 300)
        )
        open_files(page, "j1")
        expect(page.locator('#files-list .thumb[data-state="not-here"]').first).to_be_visible()
        expect(page.locator("#files-list li.file", has_text=f"axe-here-{n}.jpg")
               .locator(".thumb img")).to_be_visible()  # fmt: skip
        assert axe_violations(page, "#files-dialog") == []
        page.locator("#files-list li.file", has_text=f"axe-here-{n}.jpg").locator(
            '[data-action="view"]').click()  # fmt: skip
        expect(page.locator("#viewer-dialog img.viewer-img")).to_be_visible()
        assert axe_violations(page, "#viewer-dialog") == []
    finally:
        ctx.close()
