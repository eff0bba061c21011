"""`candor chat BRAND`: a brand's survey in the terminal, through the running gateway's chat API,
as a customer would take it (buttons are numbered)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
import typer

from bot.cli.common import console, err
from bot.settings import load_settings


def chat(
    brand: str,
    url: Annotated[str | None, typer.Option(help="Gateway URL.")] = None,
    user: Annotated[str | None, typer.Option(help="Your user id (default: random).")] = None,
) -> None:
    """Chat with a brand's survey in the terminal (the gateway must be running)."""
    settings = load_settings()
    base = url or settings.gateway_url
    user_id = user or f"cli-{uuid.uuid4().hex[:12]}"
    console.print("[dim]Type your answers; a number picks a button. Ctrl-D to leave.[/]")
    buttons: list[dict[str, str]] = []
    pending: dict[str, str] | None = {"payload": "/greet"}
    # The question on screen (sent back as reply_to) and one message id per message, reused on a
    # resend, so a retry is never processed twice or filed under a later question.
    on_screen: str | None = None
    message_id = uuid.uuid4().hex
    with httpx.Client(base_url=base, timeout=90) as client:
        while True:
            if pending is None:
                pending = _typed(buttons, on_screen)
                if pending is None:
                    return
                message_id = uuid.uuid4().hex
            body = {"user_id": user_id, "message_id": message_id, **pending}
            response = _send(client, base, f"/api/v1/chat/{brand}", body)
            if response is None:
                continue  # the same message, with the same id
            pending = None
            data = response.json()
            if response.status_code != 200:
                err.print(f"[red]{data.get('detail', response.text)}[/]")
                if response.status_code == 404:
                    raise typer.Exit(1)
                continue
            buttons, on_screen = _show(data["messages"], on_screen)


def _typed(buttons: list[dict[str, str]], on_screen: str | None) -> dict[str, str] | None:
    """The customer's next message (a number picks a button); None when they leave."""
    typed = ""
    while not typed:
        try:
            typed = console.input("[bold green]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return None
    if typed.isascii() and typed.isdigit() and 1 <= int(typed) <= len(buttons):
        message = {"payload": buttons[int(typed) - 1]["payload"]}
    else:
        message = {"text": typed}
    if on_screen:
        message["reply_to"] = on_screen
    return message


def _send(
    client: httpx.Client, base: str, path: str, body: dict[str, str]
) -> httpx.Response | None:
    """The gateway's answer, or None when the message must be sent again: the gateway cannot
    be reached or is restarting. The message is kept; Enter resends it."""
    try:
        response = client.post(path, json=body)
    except httpx.HTTPError:
        err.print(
            f"Cannot reach {base}; is `make run` running? Your message is kept: "
            "press Enter to retry."
        )
        console.input()
        return None
    if response.status_code == 503:
        err.print(f"{response.json()['detail']} Press Enter to resend.")
        console.input()
        return None
    return response


def _show(
    messages: list[dict[str, Any]], on_screen: str | None
) -> tuple[list[dict[str, str]], str | None]:
    """Print the bot's messages with their buttons numbered; returns the buttons on screen
    and the question the customer now sees."""
    buttons: list[dict[str, str]] = []
    for message in messages:
        on_screen = message.get("question") or on_screen
        console.print(f"[bold cyan]bot>[/] {message['text']}")
        for button in message["buttons"]:
            buttons.append(button)
            console.print(f"      [{len(buttons)}] {button['title']}")
    return buttons, on_screen


def register(app: typer.Typer) -> None:
    app.command()(chat)
