"""Control requests: the words that can mean "stop", "done" or "are you a bot", and the replies.

Split from the interpreter because these rules guard the customer's answers from being taken
for commands. A control intent interrupts only above a confidence threshold, and "stop" only
when the words can mean it (a survey answer such as "stop-start deliveries annoy me" or "a
stove" often looks like a command to a classifier). The word lists are the interpreter's own,
in English, French, German and Spanish; the rights phrases (forget me, change my answer) live
in `rights_phrases`.
"""

from __future__ import annotations

import difflib

from consent_flows import rights_phrases
from consent_flows.answers import normal
from consent_flows.contract import UserTurn
from consent_flows.i18n import N_

DEFAULT_THRESHOLD = 0.7

HELP_TEXT = N_(
    "Answer in your own words or press a button. You can also say 'why' to know why I ask, "
    "'skip' to pass a question, 'go back' to change your last answer, or 'stop' to end the "
    "chat at any time."
)
STOP_TEXT = N_(
    "Okay, I'll stop here. Thank you for your time! Nothing more will be asked, and what you "
    "already shared stays only under the consent you gave."
)
GOODBYE_TEXT = N_("Goodbye, and thank you! Nothing more will be asked.")
ENDED_TEXT = N_("Our survey is finished, thank you! Say 'hi' if you'd like to start again.")
BOT_TEXT = N_(
    "Yes, I'm a bot: an automated assistant, not a person. What you tell me goes to this "
    "brand only, and only with your consent."
)

# "done" and its kin: typed at a multiple choice they end the picks; they never stop a survey.
DONE_WORDS = frozenset(
    {
        "done",
        "that's it",
        "thats it",
        "that's all",
        "thats all",
        "finished",
        "nothing else",
        "no more",
        "that's everything",
        # fr, de, es (accents as typed, and without them)
        "c'est tout",
        "cest tout",
        "c'est fini",
        "terminé",
        "termine",
        "fini",
        "rien d'autre",
        "fertig",
        "das wars",
        "das war's",
        "das ist alles",
        "nichts mehr",
        "nichts weiter",
        "eso es todo",
        "es todo",
        "listo",
        "ya está",
        "ya esta",
        "nada más",
        "nada mas",
    }
)


# Words that can mean "end the survey" (`says_stop`); typos of the longer ones count too.
STOP_WORDS = (
    "stop",
    "quit",
    "end",
    "enough",
    "cancel",
    "exit",
    "done",
    "finish",
    "finished",
    "bye",
    "goodbye",
    "leave",
    "later",
    "halt",
    "over",
    "cya",
    "ciao",
    "ttyl",
    "busy",
    "tired",
    "continue",
    "more",
    "bored",
    "annoying",
    "leave",
    "out",
    # fr
    "arrête",
    "arrete",
    "arrêter",
    "arreter",
    "arrêtez",
    "arretez",
    "terminer",
    "quitter",
    "annuler",
    "assez",
    "suffit",
    "revoir",
    # de
    "stopp",
    "aufhören",
    "aufhoren",
    "aufhoeren",
    "hör",
    "schluss",
    "genug",
    "reicht",
    "beenden",
    "abbrechen",
    "tschüss",
    "tschuss",
    "tschuess",
    "wiedersehen",
    # es ("para"/"parar" left out: "para" is the commonest preposition in Spanish answers)
    "basta",
    "detente",
    "terminar",
    "salir",
    "cancelar",
    "adiós",
    "adios",
    "chao",
)


def says_stop(text: str) -> bool:
    """Ending a survey is only read from words that can mean it (typos allowed)."""
    for word in normal(text).split():
        if word in STOP_WORDS or (
            len(word) >= 4 and difflib.get_close_matches(word, STOP_WORDS, n=1, cutoff=0.75)
        ):
            return True
    return False


def is_bot_question(turn: UserTurn, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """'Are you a bot?' always gets an honest answer (EU AI Act, Art. 50), at any step."""
    if turn.via_button:
        return False
    return (
        turn.intent == "bot_challenge" and turn.confidence >= threshold
    ) or rights_phrases.asks_if_bot(turn.text)
