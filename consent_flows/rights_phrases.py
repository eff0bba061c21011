"""The typed phrases that make a message a rights request, in English, French, German, Spanish.

`rights.py` decides what a request does; this module only says whether a text is one. Each
request is a table of one pattern per language, kept as data so that a missed phrase is fixed
here without touching the logic, and every language follows the same rule: a phrase list must
never swallow an answer. So each pattern names what only a request names ("my answer", "my
consent", "updates"), never a bare verb: "I'd change the colour", "je changerais de vélo",
"ich würde die Farbe ändern" and "cambiar de bici" stay answers, because none of them speaks of
the customer's *answer*.

Patterns are matched on the text folded to lower case without accents, character for character
(`_folded`), so "reponse", "réponse", "aendern"/"ändern" and "mas"/"más" all match one
accentless spelling, and spans taken from the folded text cut the original one unchanged (a
rectification keeps the customer's "Montaña" as typed).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

__all__ = [
    "ALL_WORDS",
    "ARTICLES",
    "NOTICE_FILLER",
    "REQUEST_WORDS",
    "asks_if_bot",
    "asks_to_change_answer",
    "asks_what_we_send",
    "rectification",
    "unfollows",
    "withdraws",
]

_FLAGS = re.IGNORECASE


def _folded(text: str) -> str:
    """Lower case without accents, one character for one, so match spans fit `text` itself."""
    return "".join(_fold_char(c) for c in text)


def _fold_char(c: str) -> str:
    low = "'" if c == "’" else c.lower()
    if len(low) != 1:  # "İ" lowers to two characters: keep it, and the length, as it is
        return c
    return unicodedata.normalize("NFD", low)[0]


def _compiled(table: Mapping[str, str]) -> dict[str, re.Pattern[str]]:
    return {lang: re.compile(pattern, _FLAGS) for lang, pattern in table.items()}


# --- Rectification: "change my answer about X to Y" --------------------------------------------
# English keeps its historical pattern, whose guard is a separate "my/the answer" co-requirement
# (`_ANSWER_EN`). The other languages build the guard into the sentence: the verb, then the
# customer's answer ("ma réponse", "meine Antwort", "mi respuesta"), then what it is about and
# the new value. German also puts the verb at the end ("meine Antwort zur Farbe auf rot ändern").
_CHANGE = {
    "fr": r"(?:chang|modifi|corrig|rectifi|remplac|mett?\w*\s+a\s+jour)\w*",
    "de": r"(?:andere?|aendere?|andert|aendert|korrigier|berichtig|aktualisier|ersetz)\w*",
    "es": r"(?:cambi|modific|corrig|corrij|rectific|actualiz|edit)\w*",
}
_YOUR_ANSWER = {
    "fr": r"(?:ma|la|mes|les|cette|une)\s+(?:derniere\s+|precedente\s+)?reponses?",
    "de": r"(?:(?:meine[nmrs]?|die|der|diese|eine)\s+)?(?:letzte[nmr]?\s+|vorige[nmr]?\s+)?"
    r"antwort(?:en)?",
    "es": r"(?:mi|la|mis|las|esa|esta|una)\s+(?:ultima\s+|anterior\s+)?respuestas?",
}
_ABOUT = {
    "fr": r"(?:(?:sur|concernant|au\s+sujet\s+d(?:es|e|u)|a\s+propos\s+d(?:es|e|u)|quant\s+aux?"
    r"|(?:a|pour)\s+la\s+question(?:\s+(?:sur|d(?:es|e|u)))?)\s+"
    r"|(?:au\s+sujet|a\s+propos|(?:a|pour)\s+la\s+question)\s+d'\s*)"
    r"(?:l'\s*|le\s+|la\s+|les\s+|mon\s+|ma\s+|mes\s+)?",
    "de": r"(?:zu[rm]?|uber|ueber|bei[m]?|fur|fuer|betreffend)\s+"
    r"(?:(?:der|die|das|dem|den|des|meine[mnrs]?)\s+)?",
    "es": r"(?:sobre|acerca\s+del?|respecto\s+al?|en\s+cuanto\s+al?|del?)\s+"
    r"(?:el\s+|la\s+|los\s+|las\s+|lo\s+|mi\s+|mis\s+)?",
}
_TO = {
    "fr": r"(?:\s+(?:en|par|pour|a)\s+|\s*:\s*|\s*(?:->|=>|→)\s*)",
    "de": r"(?:\s+(?:auf|in|zu|durch)\s+|\s*:\s*|\s*(?:->|=>|→)\s*)",
    "es": r"(?:\s+(?:a|al|por|para)\s+|\s*:\s*|\s*(?:->|=>|→)\s*)",
}
_THEN = {  # what may follow the new value: German's verb, a "please"
    "fr": r"(?:\s+(?:svp|stp|s'il\s+vous\s+plait|s'il\s+te\s+plait))?",
    "de": r"(?:\s+(?:andern|aendern|korrigieren|berichtigen|ersetzen|setzen|aktualisieren))?"
    r"(?:\s+bitte)?",
    "es": r"(?:\s+por\s+favor)?",
}
_RECTIFY_EN = re.compile(
    r"\b(?:change|update|correct|edit|fix|set)\b.*?\babout\s+(?:the\s+|my\s+)?(?P<what>.+?)"
    r"\s+to\s+(?P<new>.+?)\s*$",
    _FLAGS,
)
_ANSWER_EN = re.compile(r"\b(my|the)\s+(last\s+)?answer\b", _FLAGS)


def _rectify_pattern(lang: str) -> str:
    sentence = (
        rf"{_YOUR_ANSWER[lang]}\s+{_ABOUT[lang]}(?P<what>.+?){_TO[lang]}(?P<new>.+?)"
        rf"{_THEN[lang]}\s*[.!]*\s*$"
    )
    if lang == "de":  # the verb first ("ändere meine Antwort zu ...") or last ("... ändern")
        return rf"^(?=.*\b{_CHANGE[lang]}).*?\b{sentence}"
    return rf"\b{_CHANGE[lang]}\s+(?:\w+\s+){{0,2}}?{sentence}"


_RECTIFY = {"en": _RECTIFY_EN, **_compiled({lang: _rectify_pattern(lang) for lang in _CHANGE})}


def rectification(text: str) -> tuple[str, str] | None:
    """(what the answer is about, the new answer) as typed, or None when `text` is no such
    request. "changer ma réponse sur le vélo en VTT" gives ("vélo", "VTT")."""
    folded = _folded(text)
    for lang, pattern in _RECTIFY.items():
        match = pattern.search(folded)
        if match is None or (lang == "en" and not _ANSWER_EN.search(folded)):
            continue
        what, new = match.span("what"), match.span("new")
        return text[what[0] : what[1]], text[new[0] : new[1]]
    return None


# --- A plain "change my answer": the whole message, nothing else -----------------------------
# The interpreter then goes back one question. Only a message that is nothing but the request
# (give or take "I want to", "please" and punctuation) counts, so no answer is ever taken.
_PLAIN_CHANGE = _compiled(
    {
        "en": r"(?:(?:please|pls|can\s+i|could\s+i|may\s+i|i\s+want\s+to|i\s+wanna|i'd\s+like\s+to"
        r"|i\s+would\s+like\s+to|let\s+me|i\s+need\s+to)\s+)*"
        r"(?:change|update|correct|edit|fix|redo)\s+(?:my|the)\s+(?:last\s+|previous\s+)?answers?"
        r"(?:\s+please)?",
        "fr": r"(?:(?:je\s+veux|je\s+voudrais|j'aimerais|j\s+aimerais|je\s+souhaite|je\s+peux"
        r"|puis\s*-?\s*je|est\s*-?\s*ce\s+que\s+je\s+peux|on\s+peut|peut\s*-?\s*on|svp|stp"
        r"|s'il\s+vous\s+plait|pourriez\s*-?\s*vous|pouvez\s*-?\s*vous)\s+)*"
        r"(?:changer|change|changez|modifier|modifie|modifiez|corriger|corrige|corrigez"
        r"|rectifier|refaire)\s+" + _YOUR_ANSWER["fr"] + r"(?:\s+(?:svp|stp|s'il\s+vous\s+plait))?",
        "de": r"(?:(?:ich\s+(?:mochte|moechte|will|wurde|wuerde)|kann\s+ich|darf\s+ich|bitte"
        r"|gerne?)\s+)*"
        r"(?:(?:andere?|aendere?|andern\s+sie|aendern\s+sie|korrigiere|korrigieren\s+sie)"
        r"\s+(?:bitte\s+)?" + _YOUR_ANSWER["de"] + r"|" + _YOUR_ANSWER["de"] + r"\s+(?:bitte\s+)?"
        r"(?:andern|aendern|korrigieren|berichtigen))(?:\s+bitte)?",
        "es": r"(?:(?:quiero|quisiera|me\s+gustaria|puedo|podria|necesito|por\s+favor)\s+)*"
        r"(?:cambiar|cambia|cambie|modificar|modifica|modifique|corregir|corrige|corrija"
        r"|rectificar|editar)\s+(?:(?:mi|la|mis|las)\s+)?(?:ultima\s+|anterior\s+)?respuestas?"
        r"(?:\s+por\s+favor)?",
    }
)
_EDGES = " \t\n.,;:!?¿¡…"


def asks_to_change_answer(text: str) -> bool:
    """Whether the whole message asks to change an answer ("je veux modifier ma reponse",
    "Antwort aendern", "¿puedo cambiar mi respuesta?") without saying to what."""
    core = _folded(text).strip(_EDGES)
    return any(pattern.fullmatch(core) for pattern in _PLAIN_CHANGE.values())


# --- Withdrawal: a customer who says it must never have it filed as an answer ------------------
_WITHDRAW = _compiled(
    {
        "en": r"\b(withdraw|revoke|retract)\w*\b.{0,40}\b(consent|permission|agreement)"
        r"|\bi\s+no\s+longer\s+(consent|agree)\b"
        r"|\bstop\s+(using|keeping|storing)\s+my\b"
        r"|\bstop\s+asking\s+(me\s+)?about\b",
        # "je retire mon consentement", "je ne consens plus", "arrêtez d'utiliser mes réponses"
        "fr": r"\b(retir|revoqu)\w*\b.{0,40}\b(consentement|accord|autorisation)"
        r"|\b(consentement|accord)\b.{0,40}\b(retir|revoqu)"
        r"|\bje\s+ne\s+(consens|donne)\s+plus\b"
        r"|\barret\w*\s+(d'|de\s+)(utiliser|garder|conserver|stocker|enregistrer)\s+(mes|mon|ma)\b"
        r"|\barret\w*\s+de\s+me\s+(demander|poser\s+des\s+questions|questionner)\s+(sur|a\s+propos)",
        # "ich widerrufe meine Einwilligung", "Einwilligung zurückziehen", "ich ziehe sie zurück"
        "de": r"\b(widerruf|zuruckzieh|zurueckzieh|zuruckgez|zurueckgez)\w*\b.{0,40}"
        r"\b(einwilligung|zustimmung|erlaubnis)"
        r"|\b(einwilligung|zustimmung)\w*\b.{0,40}\b(widerruf|zuruckzieh|zurueckzieh|zuruckgez"
        r"|zurueckgez|zuruck\b|zurueck\b)"
        r"|\bich\s+(willige|stimme)\s+nicht\s+mehr\b"
        r"|\b(speicher|verwend|nutz)\w*\s+sie\s+meine\s+\w+\s+nicht\s+mehr\b",
        # "retiro mi consentimiento", "ya no doy mi consentimiento", "deja de usar mis datos"
        "es": r"\b(retir|revoc|anul|quit)\w*\b.{0,40}\b(consentimiento|consentimento|permiso"
        r"|autorizacion)"
        r"|\b(consentimiento|permiso)\w*\b.{0,40}\b(retir|revoc)"
        r"|\bya\s+no\s+(doy|consiento)\b"
        r"|\bdej(a|ad|en|e)\s+de\s+(usar|guardar|almacenar|conservar)\s+(mis|mi)\b"
        r"|\bdej(a|ad|en|e)\s+de\s+preguntarme\s+(por|sobre)\b",
    }
)


def withdraws(text: str) -> bool:
    """Whether the words are unmistakably a withdrawal, whatever the classifier made of them."""
    folded = _folded(text)
    return any(pattern.search(folded) for pattern in _WITHDRAW.values())


# --- Following: "stop updates", and "what do you send me, and why?" ---------------------------
_NEWS = {
    "en": r"(updates?|news|newsletters?|tips|messages)",
    "fr": r"(nouvelles?|actualites?|actus?|mises?\s+a\s+jour|newsletters?|lettres?\s+d'info"
    r"|conseils?|astuces?|messages?|infos?|notifications?)",
    "de": r"(updates?|neuigkeiten|nachrichten|newsletter|tipps?|mitteilungen|infos?|news)",
    "es": r"(actualizaciones|novedades|noticias|boletin(es)?|newsletters?|consejos?|mensajes"
    r"|notificaciones)",
}
_UNFOLLOW = _compiled(
    {
        "en": r"\b(unfollow|unsubscribe)\b"
        rf"|\b(stop|end|cancel|no\s+more)\b.{{0,25}}\b{_NEWS['en']}\b",
        # "plus de nouvelles" at the start, or "je ne veux plus de conseils": never "j'aimerais
        # plus de conseils" (more tips)
        "fr": r"\b(desabonn|desinscri)\w*|\bne\s+plus\s+(vous\s+)?suivre\b"
        rf"|\b(arret\w*|stop\w*|annul\w*|fini\w*|assez)\b.{{0,25}}\b{_NEWS['fr']}\b"
        rf"|^\s*(non\s*,?\s*)?plus\s+(de|d'|du|des)\s*{_NEWS['fr']}\b"
        rf"|\bn(e\s+|')\S+\s+plus\s+(\S+\s+)?(de|d'|du|des)\s*{_NEWS['fr']}\b",
        # "keine Updates mehr", "Updates abbestellen", "Schluss mit den Tipps"
        "de": r"\b(abbestell|abmeld|entfolg|deabonnier)\w*|\bnicht\s+mehr\s+folgen\b"
        rf"|\bkeine\b.{{0,20}}\b{_NEWS['de']}\b.{{0,15}}\bmehr\b"
        rf"|\b(stopp?\w*|beende\w*|schlu(ss|ß)\s+mit|kundig\w*|kuendig\w*)\b.{{0,25}}\b{_NEWS['de']}\b"
        rf"|\b{_NEWS['de']}\s+(stoppen|beenden|abstellen|kundigen|kuendigen)\b",
        # "no más actualizaciones", "darme de baja", "deja de enviarme mensajes"
        "es": r"\b(desuscrib|desapunt)\w*|\b(dar|darme|dame|denme)\s+de\s+baja\b"
        r"|\bdej(ar|a|ad|en|e)\s+de\s+seguir\b|\bcancel\w*\s+(la\s+|mi\s+)?suscripcion\b"
        rf"|\b(no\s+mas|basta\s+de|se\s+acabaron|cancel\w*|det(en|ener|engan)\w*)\b.{{0,25}}"
        rf"\b{_NEWS['es']}\b"
        rf"|\bdej(ar|a|ad|en|e)\s+de\s+(enviar|mandar)\w*\b.{{0,25}}\b{_NEWS['es']}\b"
        rf"|\bya\s+no\s+quiero\b.{{0,20}}\b{_NEWS['es']}\b",
    }
)
_FOLLOW_INFO = _compiled(
    {
        "en": r"\bwhat\b.{0,30}\b(send|sending|sent)\b.{0,15}\bme\b"
        r"|\bwhy\b.{0,40}\b(send|sending|sent|get|getting|receiv\w*)\b.{0,30}"
        r"\b(this|these|that|updates?|messages?|tips)\b",
        # "qu'est-ce que vous m'envoyez ?", "pourquoi je reçois ces messages ?"
        "fr": r"\b(qu'est\s*-?\s*ce\s+que|que|quoi)\b.{0,30}\bm'\s*envo\w*"
        r"|\bm'envoy\w*\s*-?\s*vous\b"
        r"|\bpourquoi\b.{0,40}\b(recoi\w*|recev\w*|recu\w*|envo\w*)\b",
        # "was schicken Sie mir?", "warum bekomme ich diese Nachrichten?"
        "de": r"\bwas\b.{0,30}\b(schick|send)\w*\b.{0,15}\bmir\b"
        r"|\b(warum|wieso|weshalb)\b.{0,40}\b(bekomm|erhalt|kriege?|schick|send)\w*",
        # "¿qué me enviáis?", "¿por qué recibo estos mensajes?"
        "es": r"\bque\b.{0,30}\bme\s+(envi|mand)\w*"
        r"|\bpor\s*que\b.{0,40}\b(recib|envi|mand)\w*",
    }
)


def unfollows(text: str) -> bool:
    """Whether the text asks to stop a followed brand's updates ("plus de nouvelles")."""
    folded = _folded(text)
    return any(pattern.search(folded) for pattern in _UNFOLLOW.values())


def asks_what_we_send(text: str) -> bool:
    """Whether the text asks what a followed brand sends, and why."""
    folded = _folded(text)
    return any(pattern.search(folded) for pattern in _FOLLOW_INFO.values())


# --- "Are you a bot?": always answered honestly (EU AI Act Art. 50) ---------------------------
# A question about Candor itself ("êtes-vous un robot ?"), never a statement about something
# else: "lo que busco es un robot de cocina" answers a question and stays an answer.
_BOT_QUESTION = _compiled(
    {
        "en": r"\b(are|r)\s+(you|u|ya)\s+(a\s+|an\s+)?(real\s+|actual\s+)?"
        r"(bot|robot|human|person|machine|ai|chatbot|computer|program|real)\b"
        r"|\b(am\s+i|i'?m)\s+(talking|speaking|chatting|writing)\s+(to|with)\s+(a\s+|an\s+)?"
        r"(bot|robot|human|person|machine|ai|real)\b"
        r"|\bis\s+this\s+(a\s+|an\s+)?(bot|robot|human|person|machine|ai|chatbot)\b",
        "fr": r"\b(etes\s*-?\s*vous|es\s*-?\s*tu|t'es|tu\s+es|vous\s+etes|est\s*-?\s*ce)\s+"
        r"(un\s+|une\s+)?(vraie?\s+)?(bot|robot|humaine?|personne|machine|ia|chatbot|programme"
        r"|ordinateur)\b"
        r"|\b(je\s+parle|je\s+discute|je\s+suis\s+en\s+train\s+de\s+parler"
        r"|suis\s*-?\s*je\s+en\s+train\s+de\s+parler)\s+(a|avec)\s+(un|une)\s+(vraie?\s+)?"
        r"(bot|robot|humaine?|personne|machine|ia)\b",
        "de": r"\b(bist\s+du|sind\s+sie)\s+(eine?\s+)?(echte[rs]?\s+|wirklich\s+(eine?\s+)?)?"
        r"(bot|roboter|mensch|person|maschine|ki|chatbot|computer|programm)\b"
        r"|\b(rede|spreche|chatte|schreibe)\s+ich\s+(hier\s+)?mit\s+(einem|einer)\s+"
        r"(echten\s+)?(bot|roboter|menschen|person|maschine|ki)\b"
        r"|\bist\s+das\s+(eine?\s+)?(bot|roboter|mensch|maschine|ki|chatbot)\b",
        "es": r"\b(eres|es\s+usted|sois|son\s+ustedes)\s+(una?\s+)?(bot|robot|humana?|persona"
        r"|maquina|ia|chatbot|programa|ordenador|computadora)\b"
        r"|\b(hablo|estoy\s+hablando|chateo|estoy\s+chateando)\s+con\s+(una?\s+)?"
        r"(bot|robot|humano|persona|maquina|ia)\b"
        r"|\bes\s+esto\s+una?\s+(bot|robot|chatbot)\b",
    }
)


def asks_if_bot(text: str) -> bool:
    """Whether the customer asks if they are talking to a bot ("¿eres un bot?")."""
    folded = _folded(text)
    return any(pattern.search(folded) for pattern in _BOT_QUESTION.values())


# --- Which purpose a withdrawal names (`rights.read_withdrawal`) ------------------------------
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that say what to do with a consent, or fill the sentence, never which purpose:
# "please withdraw all my consent for the data you keep" names no purpose at all, nor does
# "je ne veux plus que vous gardiez mes réponses".
REQUEST_WORDS = _words(
    """
    withdraw withdrawing withdrawal withdrawn revoke revoking retract cancel take back remove
    delete erase stop stopping quit end consent consents consenting permission permissions
    agreement agree approval opt out unsubscribe data info information answer answers detail
    details my me mine myself i i'm im i'd id i've want wanted would like to the a an for of
    on about please pls plz you your can could do does don't dont not no more anymore any
    longer use using used keep keeping kept store storing stored asking ask asked questions
    question topic topics this that it its them those these from now just all everything every
    entirely completely whole thing things with and or be is are was have has had given gave
    give okay ok hey hi hello thanks thank chat bot survey here there what which so in at by
    we our us let lets let's go get rid mind changed change decided decide actually really
    sorry never again anything stuff part bit whatever also too but if then than you've
    je retire retirer retirez retiré retire révoque révoquer revoque revoquer mon ma mes
    consentement accord données donnees informations réponses reponses s'il vous plait svp
    merci tout tous toutes de du des le la les pour sur à a ne plus pas
    j'ai veux voudrais souhaite que qu'il vous nous votre vos utiliser gardiez gardez garder
    conserver arrêtez arretez arrête arrete consens donne bonjour oui non
    ich widerrufe widerrufen widerruf zurückziehen zuruckziehen ziehe zurück zuruck meine
    mein meinen einwilligung zustimmung daten antworten bitte danke alles alle die der das
    für fur von zu und nicht mehr
    möchte mochte will sie ihre ihr mich mir speichern verwenden nutzen hallo ja nein
    retiro retirar retira revoco revocar mi mis consentimiento permiso datos respuestas
    por favor gracias todo todos todas el la los las para de del y no más mas
    quiero ya doy consiento que me usar guardar guardes usted ustedes su sus hola sí si
    """
)
ALL_WORDS = _words("all everything every entirely completely whole")
ALL_WORDS |= _words("tout tous toutes alles alle todo todos todas")
# Words that never say which question a rectification means ("the", "ma", "der", "mis").
ARTICLES = _words(
    """
    the my a an le la les l un une du de des mon ma mes der die das dem den ein eine meine
    el los las lo mi mis del una
    """
)
# Notice words that describe how every purpose is worded, not what it is about.
NOTICE_FILLER = _words(
    """
    we'll we'd we'll we've will may might should keep kept tell told note noted words word
    based pick like would want learn help improve choose chosen ask asked send sent use used
    your you what when where which who with that this from into about their them they then
    than have has had just only also
    nous vous votre vos notre nos conservons gardons notons avec dans pour choisir mots
    wir sie ihre ihren ihrer unser unsere speichern behalten notieren mit worten wählen
    guardamos conservamos anotamos nuestro nuestra sus con para elegir palabras
    """
)
