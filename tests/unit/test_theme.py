"""A brand's widget theme kept in the registry: set over the admin API or the CLI, checked
(colours, logo, font, WCAG contrast), and served by widget-config on the next page load with no
restart; the hosted survey page `/s/{brand}`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.brands import create_brand
from bot.channels import theme
from bot.cli.app import app as cli
from bot.gateway.app import create_app
from consent_flows import look
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.stack import make_settings

BASICS = EXAMPLES / "basics-store.yaml"
CONFIG = "/api/v1/brands/basics-store/widget-config"


@dataclass
class Admin:
    client: TestClient
    key: str

    def put(self, **values: object):
        return self.client.put(
            "/api/v1/brands/basics-store/theme",
            json=values,
            headers={"authorization": f"Bearer {self.key}"},
        )


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield Admin(c, key)
    stores.dispose()


def test_a_new_theme_is_served_on_the_next_load_without_restart(admin: Admin) -> None:
    before = admin.client.get(CONFIG).json()
    assert before["title"] == "Basics Store"
    assert before["launcher"] == "Basics Store"
    response = admin.put(
        display_name="Basics",
        logo_url="https://cdn.example.com/logo.png",
        primary="#7a1f5c",
        background="#fff",
        text="#1d1d1b",
        font="serif",
        launcher_text="Tell us what you need",
    )
    assert response.status_code == 200, response.text
    assert response.json()["on_primary"] == "#ffffff"
    after = admin.client.get(CONFIG)
    assert after.headers["cache-control"] == "no-cache"
    body = after.json()
    assert body["title"] == "Basics"
    assert body["primary"] == "#7a1f5c"
    assert body["background"] == "#fff"
    assert body["logo"] == "https://cdn.example.com/logo.png"
    assert body["font"] == theme.FONTS["serif"]
    assert body["launcher"] == "Tell us what you need"
    # A later PUT replaces the registry theme: what it leaves out falls back again.
    assert admin.put(primary="#0b5394").status_code == 200
    body = admin.client.get(CONFIG).json()
    assert (body["primary"], body["title"], body["logo"]) == ("#0b5394", "Basics Store", None)


def test_low_contrast_is_refused_with_the_ratio_and_what_to_change(admin: Admin) -> None:
    response = admin.put(text="#777777", background="#ffffff")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_theme"
    assert body["problems"] == [
        "text: #777777 on #ffffff has a contrast ratio of 4.47:1, below the 4.5:1 that WCAG AA "
        "asks for; darken the text colour or lighten the background colour"
    ]
    assert admin.client.get(CONFIG).json()["text"] == "#1d1d1b"  # unchanged


def test_a_light_primary_is_refused_for_the_answer_buttons(admin: Admin) -> None:
    response = admin.put(primary="#9fd3a8")
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem.startswith("answer buttons (the primary colour as text on the background)")
    assert "darken the primary colour or lighten the background colour" in problem


def test_bad_colours_logo_and_font_are_each_said(admin: Admin) -> None:
    response = admin.put(
        primary="green", logo_url="http://x.test/a.png", font="Comic Sans", launcher_text=" "
    )
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert "primary: 'green' is not a colour; write #rgb or #rrggbb" in problems
    assert "logo_url: give an https:// address of at most 500 characters" in problems
    assert any(
        p.startswith("font: 'Comic Sans' is not offered; choose one of system") for p in problems
    )
    assert "launcher_text: write 1 to 40 characters" in problems


def test_the_theme_needs_the_brands_key(admin: Admin) -> None:
    response = admin.client.put("/api/v1/brands/basics-store/theme", json={"primary": "#000"})
    assert response.status_code == 403


def test_the_hosted_survey_page(admin: Admin) -> None:
    admin.put(display_name="Basics <Store>")
    page = admin.client.get("/s/basics-store")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/widget.js" data-brand="basics-store" data-mode="page"' in page.text
    assert "<title>Basics &lt;Store&gt;</title>" in page.text
    assert "img-src 'self' data: https:" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert admin.client.get("/survey.css").status_code == 200
    missing = admin.client.get("/s/no-such-brand")
    assert missing.status_code == 404


def test_contrast_is_wcags() -> None:
    assert round(look.contrast("#000", "#fff"), 2) == 21.0
    assert round(look.contrast("#777777", "#ffffff"), 2) == 4.48
    assert look.best_on("#ffeb3b") == "#000000"
    assert look.best_on("#2f6b3a") == "#ffffff"


def test_cli_sets_only_the_options_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(cli, ["brands", "create", str(BASICS)]).exit_code == 0
    result = runner.invoke(cli, ["brands", "theme", "basics-store", "--primary", "#7a1f5c"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["brands", "theme", "basics-store", "--launcher-text", "Hi"])
    assert result.exit_code == 0, result.output
    shown = [line.split() for line in result.stdout.splitlines()]
    assert ["primary", "#7a1f5c"] in shown
    assert ["launcher_text", "Hi"] in shown
    result = runner.invoke(cli, ["brands", "theme", "basics-store", "--text", "#eeeeee"])
    assert result.exit_code == 1
    assert "contrast ratio of 1.16:1" in result.stderr
    assert "the theme was not changed" in result.stderr


def test_the_hosted_page_may_open_the_socket_where_origins_are_restricted(tmp_path: Path) -> None:
    from bot.channels.web import origin_allowed

    settings = make_settings(
        tmp_path,
        public_url="https://candor.example.com",
        widget_origins="https://shop.example.com",
    )
    assert origin_allowed(settings, "basics-store", "https://shop.example.com")
    assert origin_allowed(settings, "basics-store", "https://candor.example.com")  # /s/{brand}
    assert not origin_allowed(settings, "basics-store", "https://elsewhere.example")
    assert not origin_allowed(settings, "basics-store", None)


THEMED = """
theme:
  display_name: Basics by the sea
  primary: "#0b5394"
  background: "#ffffff"
  text: "#1d1d1b"
  font: rounded
  launcher_text: Two questions?
"""


def publish(admin: Admin, version: int, extra: str = "") -> Any:
    source = BASICS.read_text().replace("version: 1", f"version: {version}", 1) + extra
    return admin.client.post(
        "/api/v1/brands/basics-store/flows",
        content=source,
        headers={"authorization": f"Bearer {admin.key}", "content-type": "application/yaml"},
    )


def test_a_flow_files_theme_goes_live_with_its_version(admin: Admin) -> None:
    assert publish(admin, 2, THEMED).status_code == 201
    body = admin.client.get(CONFIG).json()
    assert (body["title"], body["primary"], body["launcher"]) == (
        "Basics by the sea",
        "#0b5394",
        "Two questions?",
    )
    assert body["font"] == theme.FONTS["rounded"]
    page = admin.client.get("/s/basics-store")
    assert "<title>Basics by the sea</title>" in page.text
    # The admin API's theme is laid over the flow's: what it sets wins, the rest stays.
    assert admin.put(primary="#7a1f5c").status_code == 200
    body = admin.client.get(CONFIG).json()
    assert (body["primary"], body["title"]) == ("#7a1f5c", "Basics by the sea")
    # A version without a theme takes it away again (the API's theme stays).
    assert publish(admin, 3).status_code == 201
    body = admin.client.get(CONFIG).json()
    assert (body["primary"], body["title"]) == ("#7a1f5c", "Basics Store")


def test_a_flow_theme_with_low_contrast_is_refused_with_its_position(admin: Admin) -> None:
    low = THEMED.replace('text: "#1d1d1b"', 'text: "#999999"')
    response = publish(admin, 2, low)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert "contrast ratio of 2.84:1" in error["message"]
    assert "darken the text colour" in error["message"]
    assert error["line"] > 1
    assert admin.client.get(CONFIG).json()["title"] == "Basics Store", "nothing changed"


def test_a_flow_theme_gives_its_colours_together(admin: Admin) -> None:
    response = publish(admin, 2, '\ntheme:\n  primary: "#0b5394"\n')
    assert response.status_code == 422
    assert "primary, background and text together" in response.text
