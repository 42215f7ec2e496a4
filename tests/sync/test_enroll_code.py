"""One-time enrolment codes that start with "-" (URL-safe base64 makes one in 64):
the command line takes them in every form, and the central server no longer makes them."""

from __future__ import annotations

import pytest

import central.enroll as enroll_mod
from core.cli import build_parser
from sync_agent.cli import _enroll_rest

URL = "https://central.example"


def parsed(*argv: str) -> tuple[str, str, str | None]:
    args = build_parser().parse_args(["sync", "enroll", *argv])
    return _enroll_rest(args)


@pytest.mark.parametrize(
    "argv",
    [
        (URL, "-Ab_cD3"),
        (URL, "--", "-Ab_cD3"),
        (URL, "--code=-Ab_cD3"),
        ("--code=-Ab_cD3", URL),
        (URL, "-Ab_cD3", "--name", "Plant"),
        ("--name", "Plant", URL, "-Ab_cD3"),
        (URL, "--name", "Plant", "--", "-Ab_cD3"),
    ],
)
def test_a_code_starting_with_a_dash_is_accepted(argv):
    code, name, fingerprint = parsed(*argv)
    assert code == "-Ab_cD3"
    assert name in ("site", "Plant") and fingerprint is None


def test_ordinary_code_name_and_fingerprint():
    assert parsed(URL, "Xy-z", "--name", "Mill", "--fingerprint", "AB:CD") == (
        "Xy-z", "Mill", "AB:CD")  # fmt: skip


@pytest.mark.parametrize("argv", [(URL,), (URL, "a", "b"), (URL, "--code=a", "b")])
def test_no_code_or_two_codes_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parsed(*argv)
    assert exc.value.code == 2
    assert "exactly one enrolment code" in capsys.readouterr().err


@pytest.mark.pg
def test_central_makes_no_code_that_starts_with_a_dash(central, org_id, monkeypatch):
    from central.enroll import create_site, make_enrollment_code

    made = iter(["-first", "--second", "third-ok"])
    monkeypatch.setattr(enroll_mod, "new_token", lambda n: next(made))
    with central.write() as s:
        site = create_site(s, org_id=org_id, name="P")
        code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
    assert code == "third-ok"
