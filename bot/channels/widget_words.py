"""The web widget's own words (buttons, labels, privacy menu, status lines), in the chat's language.

The widget is one static script for every brand and language, so it carries English defaults and
takes its words from the widget config (`/api/v1/brands/{brand}/widget-config`, `words`), which
renders them here from the gettext catalogs (consent_flows/i18n.py). Keeping the words in Python
rather than in the script means one extraction (`pybabel extract -F babel.cfg`) and one catalog
test for everything a customer reads, chat replies and widget alike.

The language is passed in explicitly: for now the brand's live flow's language
(bot/channels/language.py); the widget's `data-lang` or the browser's language can be passed
instead later.
"""

from __future__ import annotations

from bot.channels.language import live_language
from consent_flows.i18n import N_, gettext

# Keys are what widget.js looks up (`say("send")`); values the English it shows by default.
WORDS: dict[str, str] = {
    "privacy": N_("Privacy"),
    "close": N_("Close chat"),
    "preview": N_("Preview: nothing is stored"),
    "conversation": N_("Conversation"),
    "typing": N_("The assistant is typing"),
    "your_message": N_("Your message"),
    "placeholder": N_("Type a message"),
    "send": N_("Send"),
    "show_my_data": N_("What do you know about me?"),
    "withdraw": N_("Withdraw consent"),
    "forget_me": N_("Forget me"),
    "download_data": N_("Download all your data (JSON)"),
    "download_receipts": N_("Download your consent receipts (JSON)"),
    "assistant": N_("Assistant"),
    "you": N_("You"),
    "notice": N_("Notice"),
    "answer_options": N_("Answer options"),
    "restarting": N_("The assistant is restarting; your message is kept and resent soon."),
    "unavailable": N_("This chat is not available here."),
    "reconnecting": N_("Connection lost; reconnecting…"),
}


def words(language: str | None) -> dict[str, str]:
    """Every widget word in `language` (English where the catalog has none)."""
    return {key: gettext(text, language) for key, text in WORDS.items()}


__all__ = ["WORDS", "live_language", "words"]
