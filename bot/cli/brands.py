"""`candor brands list|create|key|theme`: brands, their live flow version, their API keys and
their widget's theme."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import console, err, fail, known, open_runtime
from bot.settings import load_settings
from consent_flows.loader import FlowInvalid
from storage import registry
from storage.stores import StoreUnavailable

app = typer.Typer(help="Manage brands.", no_args_is_help=True)


@app.command("list")
def brands_list() -> None:
    """List brands and their latest flow version."""
    stores = load_settings().open_stores()
    with stores.registry() as session:
        for brand in registry.list_brands(session):
            latest = registry.latest_flow(session, brand=brand.slug)
            console.print(f"{brand.slug}\t{latest.version if latest else '-'}")


@app.command("create")
def brands_create(
    flow: Path,
    valid_days: Annotated[int | None, typer.Option(help="Key lifetime in days.")] = None,
) -> None:
    """Create a brand from its flow file, publish the flow and print its API key (once)."""
    from bot.brands import create_brand

    try:
        stores = load_settings().open_stores()
        published, key = create_brand(stores, flow, valid_days=valid_days)
        stores.migrate_all([published.brand])  # its data and key stores, created and migrated
    except (FlowInvalid, ValueError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"[green]✓[/] brand {published.brand}: flow {published.id} v{published.version} published"
    )
    console.print(f"API key (shown once, keep it secret): [bold]{key}[/]")


KEY_DAYS = 365


@app.command("key")
def brands_key(
    brand: str,
    valid_days: Annotated[
        int, typer.Option(min=1, help="Key lifetime in days (at least 1).")
    ] = KEY_DAYS,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="A key that never expires (not recommended).")
    ] = False,
) -> None:
    """Issue another API key for a brand (e.g. to rotate keys); prints it once.

    A key expires (after a year unless `--valid-days` says otherwise): 0 used to mean "never"
    and a negative number "already expired", both silently. A key for ever must be asked for.
    """
    if no_expiry:
        err.print(
            "[yellow]warning:[/] this key never expires; revoke it when it is no longer "
            "needed, or issue one with --valid-days instead"
        )
    runtime = open_runtime()
    known(runtime, brand)
    with runtime.stores.registry() as session:
        key = registry.issue_key(
            session,
            brand=brand,
            label="issued with brands key",
            valid_days=None if no_expiry else valid_days,
        )
        session.commit()
    console.print(f"API key for {brand} (shown once): [bold]{key}[/]")
    if not no_expiry:
        console.print(f"It expires in {valid_days} days.")


Opt = typer.Option


@app.command("theme")
def brands_theme(
    brand: str,
    name: Annotated[str | None, Opt("--name", help="Display name in the widget.")] = None,
    logo: Annotated[str | None, Opt("--logo", help="Logo or avatar: an https:// URL.")] = None,
    primary: Annotated[str | None, Opt("--primary", help="Brand colour, #rgb or #rrggbb.")] = None,
    background: Annotated[str | None, Opt("--background", help="Background colour.")] = None,
    text: Annotated[str | None, Opt("--text", help="Text colour.")] = None,
    font: Annotated[str | None, Opt("--font", help="system, sans-serif, serif, ...")] = None,
    launcher: Annotated[str | None, Opt("--launcher-text", help="The bubble's words.")] = None,
    reset: Annotated[
        bool, Opt("--reset", help="Forget the registry theme first (settings and defaults).")
    ] = False,
) -> None:
    """Set a brand's widget theme (only the options given change); without options, show it.

    Colours and their contrast are checked (WCAG AA, 4.5:1); the widget picks the theme up on
    its next page load, without a restart. The same as PUT /api/v1/brands/BRAND/theme.
    """
    from bot.channels import theme
    from bot.gateway.routes.admin import get_theme, set_theme
    from storage.stores import UnknownBrand

    settings = load_settings()
    stores = settings.open_stores()
    given = {
        "display_name": name,
        "logo_url": logo,
        "primary": primary,
        "background": background,
        "text": text,
        "font": font,
        "launcher_text": launcher,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    try:
        if not changes and not reset:
            out = get_theme(stores, settings, brand)
        else:
            with stores.registry() as session:
                values = {} if reset else theme.stored(session, brand)
            out = set_theme(stores, settings, brand, {**values, **changes})
    except UnknownBrand:
        raise fail(f"there is no brand named '{brand}'; see `candor brands list`") from None
    except theme.ThemeInvalid as exc:
        for problem in exc.problems:
            err.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
        raise fail("the theme was not changed") from None
    for field in ("display_name", "logo_url", "primary", "background", "text", "font"):
        console.print(f"{field:<14} {getattr(out, field) or '-'}", highlight=False)
    console.print(f"{'launcher_text':<14} {out.launcher_text}", highlight=False)
    if changes or reset:
        console.print(
            f"[green]✓[/] theme of {brand} saved; the widget shows it on its next page load",
            highlight=False,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="brands")
