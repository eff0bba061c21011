"""The domain errors: what routes, middleware and channel adapters raise when a request fails.

They live apart from the table that answers them (bot.gateway.error_table) so that the code
raising one imports a plain exception and nothing of FastAPI or of the answers. Each says in
its fields what its message needs; what the client sees is its row in `ERRORS`, and a test
(tests/unit/test_error_table.py) walks this module so that no error here lacks a row.
"""

from __future__ import annotations

from typing import Any


class EngineUnavailable(Exception):
    """The Rasa engine could not be reached or failed to answer."""


class BodyTooLarge(Exception):
    """A body over the gateway's limit, refused before anything parsed it."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class RequestTooSlow(Exception):
    """A request whose headers or body missed their deadline (`phase`), written by the protocol."""

    def __init__(self, phase: str) -> None:
        super().__init__(phase)
        self.phase = phase


class RateLimited(Exception):
    """Too many requests from `who` (a key of bot.gateway.error_table's `_WHO`); `retry_after`
    seconds until one more would be allowed."""

    def __init__(self, who: str, retry_after: int) -> None:
        super().__init__(who)
        self.who = who
        self.retry_after = retry_after


class NotAuthenticated(Exception):
    """No usable credentials on a brand admin route."""


class Forbidden(Exception):
    """Credentials that do not open this brand (the same answer whether or not it exists)."""


class InvalidLink(Exception):
    """A self-service link that is malformed, forged, of the wrong kind or expired.

    The customer reads the answer in their browser: `language` is theirs when the link still
    names its brand (an expired one), else None (English)."""

    def __init__(self, language: str | None = None) -> None:
        super().__init__(language)
        self.language = language


class InvalidPreviewLink(Exception):
    """A draft preview link (routes.preview) that is malformed, forged, expired or names
    another brand or version."""


class InvalidPreviewPage(InvalidPreviewLink):
    """The same, for the preview page a person opened: answered with a page."""


class PreviewCannotRun(Exception):
    """A preview turn that would have needed a store (the preview has none); nothing stored."""


class FlowRefused(Exception):
    """A published flow that does not load or prove, or names another brand; nothing changed.

    `errors` are the loader's findings (`FlowError.as_dict()`); `reason` replaces the count when
    the flow itself is fine but was sent to the wrong brand.
    """

    def __init__(self, errors: list[dict[str, Any]], reason: str | None = None) -> None:
        super().__init__(reason or len(errors))
        self.errors = errors
        self.reason = reason


class StaleFlowVersion(Exception):
    """A published flow whose version is not newer than the live one (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoSegments(Exception):
    """Segments asked for before the brand published any."""


class UnknownAsset(Exception):
    """A dashboard file that is not one of the dashboard's own."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class UnknownDashboard(Exception):
    """The dashboard page of a brand that does not exist (a page for people, not JSON)."""

    def __init__(self, brand: str) -> None:
        super().__init__(brand)
        self.brand = brand


class UnknownSubject(Exception):
    """A subject the brand keeps nothing about."""

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self.subject = subject


class UnknownPurpose(Exception):
    """A purpose that is not one of the live flow's (`known`)."""

    def __init__(self, purpose: str, known: list[str]) -> None:
        super().__init__(purpose)
        self.purpose = purpose
        self.known = known


class NoConsent(Exception):
    """A withdrawal of a consent that is not in force."""


class DuplicateMessage(Exception):
    """A `message_id` handled before whose reply this replica does not keep."""


class MessageInFlight(Exception):
    """A `message_id` whose turn has not finished: another request or replica is answering it,
    or a gateway was killed mid-turn and the claim's lease has not lapsed. It may never have
    run, so it is not "already handled": the client sends it again shortly."""


class MessageIdReused(Exception):
    """A `message_id` already used for a different message of the same user."""


class ChannelNotConfigured(Exception):
    """A webhook for an unknown brand, or one that has not connected this channel."""

    def __init__(self, brand: str, channel: str) -> None:
        super().__init__(brand, channel)
        self.brand = brand
        self.channel = channel


class BadSlackSignature(Exception):
    """A Slack request whose signature is missing, wrong or too old."""


class NotSlackPayload(Exception):
    """A signed body that is not a Slack event or interactivity payload."""


class WrongTelegramSecret(Exception):
    """A Telegram webhook call without the secret token its webhook was registered with."""

    def __init__(self, header: str) -> None:
        super().__init__(header)
        self.header = header


class NotTelegramUpdate(Exception):
    """A body that is not a Telegram update (JSON with an `update_id`)."""


class UnreadableUpdate(Exception):
    """A Telegram update that python-telegram-bot could not read."""


class WrongActionToken(Exception):
    """An action call without the engine's token (only the engine may make actions write)."""


class ActionCallNotJson(Exception):
    """An action call whose body is not JSON."""


class ActionRejected(Exception):
    """rasa-sdk's `ActionExecutionRejection`, answered in the rasa-sdk protocol's shape."""

    def __init__(self, action_name: str, message: str) -> None:
        super().__init__(action_name)
        self.action_name = action_name
        self.message = message


class ActionNotFound(ActionRejected):
    """rasa-sdk's `ActionNotFoundException`, in the rasa-sdk protocol's shape."""


class ActionFailed(Exception):
    """An action that raised: the engine is told it failed, in the rasa-sdk protocol's shape."""

    def __init__(self, action_name: object) -> None:
        super().__init__(action_name)
        self.action_name = action_name
