"""Reading a customer's reply to a consent question: yes, no, or ask again.

The question is always "<notice> Is that okay with you?", and the rule (docs/nlu.md, "Reading
consent replies") is that consent is unambiguous or absent. So this reader answers True only for
a Yes button or typed words that can only mean yes, False only for a No button or words that can
only mean no, and None for everything else, which the interpreter asks again with the buttons.

Typed text is decided from its words alone. The NLU intent and confidence are ignored for typed
text, because the classifier is confidently wrong exactly where it matters: it says `affirm` at
0.56 for "yes no" and `deny` for "no problem". Only a button press trusts the intent, since the
payload (`/affirm`, `/deny`) was chosen by the customer, not guessed.

How words are read: the text is normalised (case, curly quotes, contractions without
apostrophes, repeated letters, small typos of a few yes/no words) and cut into known phrases,
longest first, so idioms win over their parts ("no problem" is a yes, "not at all" is ambiguous,
"of course not" is a no). Every part must be known. A reply is a yes only when it holds a yes
phrase, no no phrase, and nothing else but fillers ("please", "thanks", commas); any unknown
word, hedge, question mark, ambiguous idiom, other language, or a mix of yes and no is None.

Pure: no I/O, no state, so the same reply always reads the same.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from consent_flows.contract import UserTurn

# Longer than any reply a person types to a yes/no question; past it, only the buttons count.
MAX_REPLY_CHARS = 400
# The languages the word lists below are written for: English, French, German and Spanish, read
# together (a customer of a French flow may answer "ok" or "yes", and a customer of an English
# flow "oui"). Where the languages disagree on a word, the cautious reading wins (French "bien"
# alone is a reaction, so it is ambiguous). In a flow of any other language a typed reply is asked
# again with the buttons: our words can mean something else there (Italian "fine" is "the end"),
# and a refusal must never come from a language we do not read.
READ_LANGUAGES = frozenset({"en", "fr", "de", "es"})

# For a re-ask message: replies that this reader is sure to understand.
YES_EXAMPLES: tuple[str, ...] = ("yes", "ok", "go ahead")
NO_EXAMPLES: tuple[str, ...] = ("no", "no thanks")
REASK_HINT = 'Please press Yes or No, or type "yes" or "no".'
# The same per language, for a translated re-ask message (each reads as its list says).
EXAMPLES_BY_LANGUAGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (YES_EXAMPLES, NO_EXAMPLES),
    "fr": (("oui", "d'accord"), ("non", "non merci")),
    "de": (("ja", "einverstanden"), ("nein", "nein danke")),
    "es": (("sí", "de acuerdo"), ("no", "no gracias")),
}

Reason = Literal[
    "button",  # a Yes or No button: the customer's own choice
    "yes",  # typed words that can only mean yes
    "no",  # typed words that can only mean no
    "empty",  # nothing typed (or only punctuation we ignore)
    "no_answer",  # only fillers: "thanks", "please", "🙂"
    "too_long",  # longer than MAX_REPLY_CHARS
    "not_read",  # the flow's language is not one we read typed consent in
    "other_language",  # words of another language or script
    "mixed",  # yes and no in one reply: "yes no", "yes please don't", "ok but no"
    "question",  # "yes?", "what for?"
    "hedge",  # "maybe", "i guess", "not sure", "ok..."
    "ambiguous",  # idioms that can mean either: "not at all", "i'm good", "yeah right"
    "unknown_words",  # anything else: survey answers, conditions, gibberish
]


@dataclass(frozen=True)
class ConsentReading:
    """A reading plus why, so the re-ask can say what was unclear (never the words themselves:
    a consent reply may hold personal data and the reason goes to logs and metrics)."""

    value: bool | None
    reason: Reason


class _Cat(Enum):
    YES = "yes"
    NO = "no"
    # "not", "don't", "never": a no on its own, and it turns the yes phrase right after it into
    # a no ("not ok", "don't keep my answers"). After a yes it is a contradiction ("yes not").
    NEG = "neg"
    # "won't", "no need to": turns the yes after it into a no; on its own, not an answer.
    NEG_PREFIX = "neg_prefix"
    FILLER = "filler"
    BOUNDARY = "boundary"  # , . ! ; : /  (phrases never match across one)
    HEDGE = "hedge"
    AMBIGUOUS = "ambiguous"
    QUESTION = "question"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _expand(pattern: str) -> list[str]:
    """Spell out "(a|b (c|d)) e (|f)" as every phrase it stands for, so a family of phrasings
    is written once and the yes and the negated no of one phrasing stay side by side."""

    def sequence(i: int) -> tuple[list[str], int]:
        found = [""]
        while i < len(pattern) and pattern[i] not in "|)":
            if pattern[i] == "(":
                options, i = alternatives(i + 1)
            else:
                j = i
                while j < len(pattern) and pattern[j] not in "(|)":
                    j += 1
                options, i = [pattern[i:j]], j
            found = [f + o for f in found for o in options]
        return found, i

    def alternatives(i: int) -> tuple[list[str], int]:
        options: list[str] = []
        while True:
            found, i = sequence(i)
            options += found
            if i >= len(pattern):
                raise ValueError(f"unclosed '(' in {pattern!r}")
            i += 1
            if pattern[i - 1] == ")":
                return options, i

    found, end = sequence(0)
    if end != len(pattern):
        raise ValueError(f"unbalanced ')' or '|' in {pattern!r}")
    return [" ".join(f.split()) for f in found]


# The customer's "it is okay" in its usual shapes. `_AGREEABLE` may follow "that's", "it's" and
# (with "with that"/"by me"...) "i'm"; bare "i'm ok" / "i'm good" are left out on purpose: they
# are the usual polite way to decline ("I'm good, thanks").
_SUBJECT = "(that's|that is|it's|it is|this is|that's all)"
_DEGREE = "(|absolutely|totally|perfectly|completely|quite|really|all|100%)"
_AGREEABLE = "(ok|okay|fine|alright|all right|cool|good|acceptable)"
_WITH = "(with me|by me|for me|with that|with this|with it|to me)"
_OBJECT = (
    "(it|them|that|this|those|these|my answers|my answer|my data|my info|my information|"
    "my replies|my words|what i say|what i tell you|what i said|the answers|the data)"
)
_KEEP = "(keep|use|store|save|record|have|note|write down)"
_KEEPING = "(keeping|using|storing|saving|recording|having|noting)"
# On its own ("keep it", "use my answers") only the verbs and objects that cannot be read as
# anything else: "save it" and "have it" are also brush-offs.
_BARE_KEEP = "(keep|use|store|record)"
_BARE_OBJECT = "(it|them|my answers|my answer|my data|my replies|my words|what i say|the answers)"

_YES_PHRASES: tuple[str, ...] = (
    # plain
    "(yes|y|ye|yea|yeah|yeh|yah|ya|yep|yup|yas|yass|aye|affirmative|indeed)",
    "(ok|okay|k|kay|okey|okie|okie dokie|okey dokey|okie doke|ok dokey|alright|all right|aight|"
    "alrighty|alrite|righto|right o)",
    "(sure|sure thing|for sure|of course|ofc|absolutely|definitely|definately|certainly|"
    "totally|gladly|by all means|with pleasure|most certainly|you bet|yes indeed)",
    "(uh huh|mhm|mhmm|mm hmm|mmhmm)",
    "(fine|fine then|very well|agree|agreed|i agree|i agree to (that|this|it)|i accept|accept|"
    "accepted|i approve|approved|i consent|i consent to (that|this|it)|consent given|"
    "i give (my|) (consent|permission)|you have my (consent|permission)|permission granted|"
    "granted|deal)",
    # idioms: what they mean as an answer to "Is that okay with you?"
    "(no problem|no problemo|no problem at all|not a problem|not a problem at all|no worries|"
    "no worries at all|no bother|no objection|no objections|i have no objection|"
    "i have no objections|no issue|no issues|not an issue)",
    "(i don't mind|i do not mind|don't mind|i wouldn't mind|i don't mind at all|"
    "i do not mind at all|don't mind at all|i've no problem with (that|it|this)|"
    "i have no problem with (that|it|this)|no problem with (that|it|this)|"
    "i don't have a problem with (that|it|this))",
    "(go ahead|go right ahead|go ahead then|go for it|go on|go on then|carry on|proceed|"
    "please proceed|please do|do it|do so|you can|you may|you can do that|yes you can|"
    "yes you may|of course you can|of course you may|sure you can|feel free|be my guest)",
    "(why not|why not ?|why not then|i don't see why not|don't see why not|can't see why not|"
    "i can't see why not|i see no reason why not)",
    "((that|it|) sounds (good|fine|ok|okay|great|alright|all right) (|to me)|"
    "works for me|that works|that works for me|works with me|all good|it's all good|"
    "all fine|all good with me|fine with me|ok with me|okay with me|alright with me|"
    "cool with me|good with me|fine by me|ok by me|okay by me|alright by me)",
    "(count me in|i'm in|i am in|let's do it|let's go|let's do this|happy to|happy to help|"
    "i'm happy to|i am happy to|happy with that|i'm happy with that|i am happy with that|"
    "more than happy to|i'd be happy to|i would be happy to|glad to|i'm glad to|"
    "happy for you to|i'm happy for you to|i am happy for you to)",
    f"{_SUBJECT} {_DEGREE} {_AGREEABLE}",
    f"{_SUBJECT} {_DEGREE} {_AGREEABLE} {_WITH}",
    f"{_DEGREE} {_AGREEABLE} {_WITH}",
    f"(i'm|i am|im) {_DEGREE} {_AGREEABLE} {_WITH}",
    f"(i'm|i am) (ok|okay|fine|happy|good|cool|alright|comfortable) with (you|) {_KEEPING} "
    f"{_OBJECT}",
    f"(you can|you may|yes you can|yes you may|sure you can|feel free to|please|go ahead and|"
    f"do|ok|okay|yes) {_KEEP} {_OBJECT}",
    f"{_BARE_KEEP} {_BARE_OBJECT}",
    "(that's|that is|it's|it is) (not a problem|no problem|not a problem at all)",
    "(defo|deffo|definetly|definitly|definatly|absolutly|ofcourse|alrighty then)",
    "(yes|yeah|sure|ok|okay) (i do|i agree|i consent|i accept)",
)

_NO_PHRASES: tuple[str, ...] = (
    "(no|n|nope|nah|nay|nope nope|no no|no way|no way jose|no chance|not a chance|no siree|"
    "hell no|heck no|negative|never ever|naw|no need|not cool|not ever|pass|i'll pass|"
    "i will pass|i pass)",
    "(no thanks|no thank you|no thx|no ty|no ta|nope thanks|nah thanks|nah mate|nope mate|"
    "no thanks mate|no sorry|sorry no|sorry but no|no sorry)",
    "(absolutely not|definitely not|certainly not|of course not|surely not|hell not|"
    "not really|not now|not today|not at the moment|not right now|not this time|not for me|"
    "not interested|not happy|not comfortable|not keen)",
    "(i'd rather not|id rather not|i would rather not|rather not|i'd prefer not|"
    "i would prefer not|i'd prefer not to|prefer not|prefer not to|"
    "i'd rather not say|i'd prefer not to say)",
    "(i refuse|refuse|refused|i decline|decline|declined|i disagree|disagree|i object|"
    "i don't agree|i do not agree|i don't consent|i do not consent|i don't give (my|) consent|"
    "i do not give (my|) consent|you don't have my (consent|permission)|"
    "you do not have my (consent|permission)|no consent|no permission|permission denied|"
    "consent refused|i don't accept|i do not accept)",
    "(i mind|i do mind|i'd mind|i would mind|yes i mind|i don't want (that|this|it|to)|"
    "i do not want (that|this|it|to)|don't want to|do not want to|"
    "i don't think so|thanks but no thanks|thank you but no thank you|don't think so|"
    "i'm afraid not|afraid not|"
    "i'm not comfortable|i am not comfortable|i'm not comfortable with (that|this|it)|"
    "i am not comfortable with (that|this|it)|i'm not happy with (that|this|it)|"
    "i am not happy with (that|this|it)|not happy with (that|this|it)|"
    "i'm not keen|i'm not interested|i am not interested)",
    "(you can't|you cannot|you can not|you may not|no you can't|no you may not|"
    "no you cannot|you mustn't|you must not)",
    f"{_SUBJECT} not {_DEGREE} {_AGREEABLE}",
    f"{_SUBJECT} not {_DEGREE} {_AGREEABLE} {_WITH}",
    f"(i'm|i am|im) not {_DEGREE} {_AGREEABLE} {_WITH}",
    f"(i'm|i am) not (ok|okay|fine|happy|comfortable|cool) with (you|) {_KEEPING} {_OBJECT}",
    "(that's|that is|it's|it is) (a problem|not fine|not okay|not ok|not alright|not cool|"
    "not acceptable|unacceptable)",
    "(unacceptable|nein nein)",
    # A clear no before "I'm good" settles which "I'm good" it is (alone it is ambiguous).
    "(no|nah|nope|no thanks|nah thanks|no thank you) (|,) (i'm|i am) (good|fine|ok|okay|alright)",
)

_NEG_PHRASES: tuple[str, ...] = (
    "(not|don't|do not|please don't|please do not|never|don't you dare|"
    "i don't want you to|i do not want you to|i'd rather you didn't|"
    "i would rather you didn't|i'd prefer you didn't|i would prefer you didn't)",
)
# Negations that mean no only in front of what they negate ("won't keep it" is a no, "won't"
# alone is not an answer).
_NEG_PREFIXES: tuple[str, ...] = (
    "(doesn't|does not|won't|will not|can't|cannot|mustn't|shouldn't|no need to|don't you|"
    "don't even|do not even)",
)

_FILLERS: tuple[str, ...] = (
    "(please|pls|plz|pleaseee|thanks|thank you|thanks a lot|thank you very much|thx|ty|ta|"
    "cheers|many thanks|thanks for asking|thank you for asking|and|then|sorry|mate|buddy|at all)",
    "(🙂|😊|😀|😃|😄|☺|😁|🙏)",
)

_HEDGES: tuple[str, ...] = (
    "(maybe|perhaps|probably|possibly|might|may be|maybe not|maybe yes|maybe later|later|"
    "not sure|i'm not sure|i am not sure|im not sure|unsure|dunno|i dunno|don't know|"
    "i don't know|i do not know|idk|no idea|i have no idea|i guess|guess so|i guess so|"
    "i suppose|suppose so|i suppose so|i think|i think so|think so|i reckon|i believe so|"
    "kind of|kinda|sort of|sorta|depends|it depends|that depends|let me think|"
    "let me think about it|hmm|hm|hmmm|um|umm|uh|er|erm|ehh|eh|meh|whatever|i don't care|"
    "don't care|i do not care|if you must|if you have to|if you want|if you like|up to you|"
    "it's up to you|your call|as you wish|i'm not bothered|not bothered|not yet|"
    "i'll think about it|i will think about it|not decided|undecided|50 50|fifty fifty|"
    "i suppose it's ok|i'm torn)",
    "…",  # trailing off ("ok...") is hesitation, not a clear answer
)

_AMBIGUOUS: tuple[str, ...] = (
    # "Not at all" answers "do you mind?" with yes-go-ahead, but answers our question
    # "is that okay with you?" with no. A customer may mean either.
    "(not at all|not at all thanks|no not at all|not really no|"
    # "I'm good" / "I'm fine" / "I'm ok" usually decline ("I'm good, thanks").
    "i'm good|i am good|im good|i'm fine|i am fine|im fine|i'm ok|i'm okay|i am ok|"
    "i am okay|im ok|im okay|i'm alright|i'm all right|i am alright|we're good|"
    # sarcasm and colloquial contradictions
    "yeah right|yea right|sure sure|yeah no|yeah nah|no yeah|nah yeah|yes and no|"
    "oh sure|oh yeah sure|as if|like i have a choice|do i have a choice|"
    # retractions and half answers
    "never mind|nevermind|i do|i don't|i do not|i guess not|not sure yet|right|correct|"
    "exactly|that's right|true|cool|great|perfect|good|nice|lovely|wonderful|fair enough|"
    "fair|whatever you say|if i have to|i have to|i suppose so yes|of course i mind|"
    "go away|leave me alone|stop|skip|help|why|what|huh|pardon|excuse me)",
)

# French, German and Spanish, written without accents where customers leave them out (the reader
# folds "é" to "e", so "d'accord", "bien sûr" and "bien sur" are one phrase). Same categories and
# the same rule as the English lists: a phrase is a yes only if it can only mean yes in answer to
# "Is that okay with you?"; reactions, sarcasm and reluctance are ambiguous or hedges.
_FR: dict[str, tuple[str, ...]] = {
    "yes": (
        "(oui|ouais|ouai|ouaip|ouep|ouip|wi|ui|voui|dac|d'ac|dacc|d'acc|daccord|d'accord|"
        "bien sur|bien entendu|evidemment|evidement|absolument|carrement|certainement|"
        "volontiers|avec plaisir|tout a fait|parfaitement|pourquoi pas|si|sur)",
        "(pas de probleme|pas de pb|pas de souci|pas de soucis|aucun probleme|aucun souci|"
        "sans probleme|sans souci|pas d'objection|aucune objection)",
        "(ca marche|ca me va|ca me va bien|ca me va tres bien|ca me convient|ca roule|"
        "c'est ok|c'est okay|c'est d'accord|c'est ok pour moi|c'est bon pour moi|ok pour moi|"
        "okay pour moi|d'accord pour moi|ca me va pour moi|tres bien)",
        "(je suis d'accord|j'suis d'accord|j'accepte|jaccepte|je consens|"
        "je donne mon (accord|consentement)|vous avez mon (accord|consentement|autorisation)|"
        "tu as mon accord|je veux bien|vas y|allez y|je n'ai rien contre|j'ai rien contre|"
        "ca ne me derange pas|ca me derange pas|cela ne me derange pas|"
        "ca ne me derange pas du tout|ca me derange pas du tout)",
        "(vous pouvez|tu peux) (les|le|la|) (garder|utiliser|enregistrer)",
        "(gardez|garde|utilisez|enregistrez) (les|le|la|mes reponses)",
    ),
    "no": (
        "(non|nan|nn|non non|non merci|nan merci|non merci beaucoup|pas question|"
        "hors de question|non pas question|jamais de la vie|certainement pas|surement pas|"
        "absolument pas|bien sur que non|evidemment pas|pas vraiment|pas maintenant|"
        "pas aujourd'hui|pas pour moi|pas pour l'instant|pas interesse|pas interessee|"
        "tres peu pour moi|c'est non|non c'est non)",
        "(je refuse|refuse|je decline|je ne veux pas|je veux pas|j'veux pas|jveux pas|"
        "je n'en veux pas|j'en veux pas|je prefere pas|je prefere que non|"
        "je prefererais pas|je prefererais que non|plutot pas|plutot non)",
        "(pas d'accord|pas daccord|je ne suis pas d'accord|je suis pas d'accord|"
        "j'suis pas d'accord|je n'accepte pas|j'accepte pas|jaccepte pas|je ne consens pas|"
        "je consens pas|ca ne me va pas|ca me va pas|ca ne me convient pas|ca me convient pas)",
        # "No, it's fine" declines, like "nah i'm good".
        "(non|nan) (|,) (c'est bon|ca va|ca ira|c'est gentil) (|merci)",
        "(ne gardez pas|ne les gardez pas|ne gardez rien)",
    ),
    "neg": ("(pas|ne|surtout pas|jamais)",),
    "filler": (
        "(merci|merci beaucoup|merci bien|mercii|s'il vous plait|s'il te plait|svp|stp|"
        "et|alors|bah|ben|desole|desolee)",
    ),
    "hedge": (
        "(peut etre|peutetre|p'tet|ptet|ptetre|je sais pas|je ne sais pas|jsais pas|jsp|"
        "chais pas|sais pas|j'en sais rien|aucune idee|je suppose|j'imagine|je pense|"
        "je pense que oui|je crois|je crois que oui|probablement|sans doute|surement|bof|euh|"
        "heu|hum|mouais|bon|on verra|on verra bien|plus tard|pas sur|pas sure|pas certain|"
        "pas certaine|je ne suis pas sur|je suis pas sur|je ne suis pas sure|"
        "je suis pas sure|si tu veux|si vous voulez|comme tu veux|comme vous voulez|"
        "s'il le faut|s'il faut|ca depend|ca m'est egal|je m'en fiche|je m'en fous|"
        "peu importe|a voir|faut voir|pas encore)",
    ),
    "ambiguous": (
        # "pas du tout" answers "ça vous dérange ?" with yes and "ça vous va ?" with no.
        "(pas du tout|non pas du tout|c'est bon|cest bon|ca va|ca ira|ok ca va|bien|super|"
        "parfait|genial|cool|top|nickel|mais oui|oui bon|oui et non|ouais ouais|ouais bon|"
        "tu parles|mon oeil|c'est ca|ouais c'est ca|exact|exactement|pardon)",
    ),
}
_DE: dict[str, tuple[str, ...]] = {
    "yes": (
        "(ja|jaa|jo|joa|jep|jup|japp|jawohl|jawoll|klar|na klar|klar doch|aber klar|ja klar|"
        "logo|logisch|sicher|sicher doch|na sicher|naturlich|natuerlich|selbstverstandlich|"
        "selbstverstaendlich|gerne|gern|sehr gerne|gerne doch|ja gerne|ja gern|"
        "mit vergnugen|mit vergnuegen|auf jeden fall|absolut|definitiv|ja genau|ja bitte|"
        "warum nicht|wieso nicht)",
        "(einverstanden|ich bin einverstanden|bin einverstanden|bin damit einverstanden|"
        "ich bin damit einverstanden|ich stimme zu|stimme zu|ich stimme dem zu|zugestimmt|"
        "ich willige ein|ich akzeptiere|akzeptiert|akzeptiere)",
        "(in ordnung|geht in ordnung|ist in ordnung|das ist in ordnung|alles klar|geht klar|"
        "passt|passt mir|passt fur mich|passt scho|das passt|ist ok|ist okay|das ist ok|"
        "das ist okay|ok fur mich|okay fur mich|fur mich ok|fur mich okay|das geht|"
        "kein problem|kein ding|kein thema|keine sorge|mach ruhig|mach nur|nur zu|macht ruhig|"
        "ich habe nichts dagegen|ich hab nichts dagegen|hab nichts dagegen|nichts dagegen|"
        "ich hab nix dagegen)",
        "(ihr durft|du darfst|sie durfen|ja ihr durft|ja du darfst) (das|es|sie|meine antworten|"
        "meine daten) (behalten|speichern|nutzen|verwenden)",
    ),
    "no": (
        "(nein|nee|noe|nein nein|nein danke|nee danke|ne danke|no danke|auf keinen fall|"
        "keinesfalls|niemals|nie im leben|nie und nimmer|lieber nicht|eher nicht|besser nicht|"
        "nicht wirklich|jetzt nicht|nicht jetzt|heute nicht|kein interesse|keine lust|"
        "nein lass mal|lass mal|lass mal lieber|ganz sicher nicht|sicher nicht|"
        "bestimmt nicht|naturlich nicht|selbstverstandlich nicht|klar nicht)",
        "(ich will nicht|will ich nicht|will nicht|ich mochte nicht|mochte ich nicht|"
        "ich moechte nicht|moechte ich nicht|das mochte ich nicht|das will ich nicht|"
        "ich will das nicht|ich mochte das nicht|nicht einverstanden|ich bin nicht einverstanden|"
        "bin nicht einverstanden|damit bin ich nicht einverstanden|"
        "ich bin damit nicht einverstanden|ich stimme nicht zu|stimme nicht zu|ich lehne ab|"
        "lehne ab|abgelehnt|ich akzeptiere nicht|ich glaube nicht|glaub nicht|glaube nicht|"
        "ich denke nicht|das geht nicht|geht nicht|geht gar nicht|nicht ok|nicht okay|"
        "ist nicht ok|das ist nicht ok|das ist nicht okay|nicht in ordnung|"
        "das ist nicht in ordnung|das passt mir nicht|passt nicht|passt mir nicht)",
    ),
    "neg": ("(nicht|kein|keine|bitte nicht|nie|ne)",),
    "filler": (
        "(danke|danke schon|dankeschon|danke sehr|vielen dank|besten dank|bitte|bitte schon|"
        "bitteschon|und|dann|sorry|entschuldigung)",
    ),
    "hedge": (
        "(vielleicht|vllt|vlt|evtl|eventuell|wahrscheinlich|moglicherweise|weiss nicht|"
        "weis nicht|weiss ich nicht|ich weiss nicht|ich weiss es nicht|keine ahnung|"
        "mal sehen|mal schauen|mal gucken|ich glaube|glaube schon|glaub schon|"
        "ich glaube schon|ich denke|ich denke schon|denke schon|eher ja|eher schon|naja|na ja|"
        "nja|hm|ah|ahm|aehm|ehm|schon|ja schon|irgendwie|mir egal|ist mir egal|egal|"
        "wenn es sein muss|wenns sein muss|wenn's sein muss|meinetwegen|von mir aus|"
        "wie du willst|wie sie wollen|wenn du willst|wenn sie wollen|spater|spaeter|"
        "nicht sicher|bin nicht sicher|ich bin mir nicht sicher|unsicher|kommt drauf an|"
        "je nachdem|weiss noch nicht|passt schon|geht schon|na gut|noch nicht)",
    ),
    "ambiguous": (
        "(jaja|ja ja|doch|jein|gut|ganz gut|schon gut|ist gut|super|toll|prima|perfekt|"
        "genau|stimmt|richtig|ja nee|ja ne|nee ja|uberhaupt nicht|ueberhaupt nicht|"
        "gar nicht|ganz und gar nicht|nein gar nicht|ja sicher|ja ja klar)",
    ),
}
_ES: dict[str, tuple[str, ...]] = {
    "yes": (
        "(si|sii|sip|sep|sisi|si si|claro|claro que si|pues claro|por supuesto|"
        "por supuesto que si|desde luego|obvio|obviamente|vale|va|dale|venga|de acuerdo|"
        "deacuerdo|estoy de acuerdo|okey|okis|oki|esta bien|todo bien|me parece bien|"
        "me parece genial|me parece perfecto|me parece estupendo|me vale|seguro|"
        "totalmente|absolutamente|perfectamente)",
        "(sin problema|sin problemas|no hay problema|ningun problema|no pasa nada|"
        "no me molesta|no me molesta en absoluto|acepto|lo acepto|doy mi consentimiento|"
        "consiento|adelante|con gusto|con mucho gusto|encantado|encantada|como no|por que no)",
        "(puedes|podeis|pueden) (guardarlo|guardarlas|guardarlos|usarlo|usarlas|usarlos|"
        "guardar mis respuestas|usar mis respuestas)",
    ),
    "no": (
        "(no|nop|nopo|nel|no no|noo|no gracias|no muchas gracias|ni hablar|ni de broma|"
        "ni de cona|ni loco|ni loca|ni pensarlo|de ninguna manera|de ningun modo|"
        "claro que no|por supuesto que no|desde luego que no|seguro que no|obvio que no|"
        "nunca|jamas|nunca jamas|negativo|que va|lo siento pero no|lo siento no)",
        "(no quiero|prefiero que no|prefiero no|mejor no|mejor que no|no estoy de acuerdo|"
        "no acepto|no lo acepto|no consiento|no doy mi consentimiento|no me parece bien|"
        "no esta bien|no me gusta|no me interesa|no me apetece|ahora no|hoy no|no por ahora|"
        "de momento no|creo que no|no puedes|no podeis|no pueden)",
    ),
    "neg": ("(ni)",),
    "filler": (
        "(gracias|muchas gracias|mil gracias|por favor|porfa|porfis|porfavor|pues|"
        "entonces|perdon|lo siento)",
    ),
    "hedge": (
        "(quizas|quiza|tal vez|talvez|a lo mejor|igual|puede|puede ser|puede que si|no se|"
        "nose|no lo se|ni idea|no tengo ni idea|no tengo idea|supongo|supongo que si|creo|"
        "creo que si|probablemente|posiblemente|depende|mas tarde|luego|despues|ya veremos|"
        "veremos|si quieres|como quieras|lo que quieras|me da igual|me da lo mismo|da igual|"
        "bueno|buenoo|pues bueno|em|emm|mmm|mm|ehh|no estoy seguro|no estoy segura|"
        "no lo tengo claro|si no queda otra|todavia no|aun no)",
    ),
    "ambiguous": (
        # "Para nada" / "en absoluto": "not at all", a yes to "¿te importa?", a no to
        # "¿te parece bien?". "No me importa" is "I don't mind" or "I don't care".
        "(para nada|en absoluto|no me importa|bien|muy bien|perfecto|genial|guay|estupendo|"
        "claro claro|si claro ya|si y no|porque no|cierto|exacto|correcto|de nada)",
    ),
}
_OTHER_LANGUAGES = (_FR, _DE, _ES)


def _all(kind: str) -> tuple[str, ...]:
    return tuple(p for table in _OTHER_LANGUAGES for p in table.get(kind, ()))


# Yes, no and "ok" in languages we do not read (and French, German and Spanish words around the
# phrases above). A reply holding any of them that is not a known phrase is asked again with the
# buttons: "va bene" three times is a yes we cannot read, never a refusal. Words that are also
# English ("no", "ok", "in", "so") are not listed.
_FOREIGN_WORDS = frozenset(
    _words(
        # French
        "oui ouais ouaip non nan d'accord daccord accord bien sûr sur volontiers merci pas du "
        "tout c'est bon vas allez je suis avec ça va évidemment bien entendu absolument "
        "carrément certainement pourquoi "
        # German
        "ja jawohl jo jep nein nee klar gerne gern genau einverstanden natürlich naturlich doch "
        "bitte danke nicht passt sicher auf keinen fall kein keine in ordnung selbstverständlich "
        "auch mit mir einverstanden geht's "
        # Spanish
        "sí si claro vale bueno de acuerdo acuerdo está esta bien por favor supuesto desde luego "
        "gracias para nada ni hablar venga adelante también tampoco "
        # Italian
        "sì certo certamente va bene d'accordo daccordo grazie perfetto assolutamente ovviamente "
        "volentieri niente affatto "
        # Dutch
        "nee prima goed graag natuurlijk oké akkoord zeker dank je wel niet hoor is "
        # Portuguese
        "sim não nao claro tudo bem pode ser obrigado obrigada com certeza nem pensar "
        # Polish
        "tak nie dobrze zgoda jasne oczywiście oczywiscie pewnie dziękuję dziekuje proszę "
        "prosze w porządku porzadku "
        # Nordic, Finnish, Romanian, Czech, Hungarian, Turkish, transliterated Russian, Greek
        "nej nei tack takk gärna garna javisst selvfølgelig kyllä kylla joo ei da nu ano ne "
        "igen nem evet hayır hayir tamam niet nyet konechno nai ochi"
    )
    # Also English, or an English typo ("sur" for "sure"): read as English.
) - {"is", "in", "sur"}
# Compared with folded words (see _fold below): "não" is listed as "nao".
_FOREIGN_WORDS = frozenset(
    "".join(c for c in unicodedata.normalize("NFD", w) if unicodedata.category(c) != "Mn")
    for w in _FOREIGN_WORDS
)


_BLOCKED_TYPOS = frozenset(
    # Real words one keystroke from a yes/no word: never read as that word.
    _words(
        "yet yew yen eyes eye byes es hes year up yip yum yuk sup hope mope rope pope cope dope "
        "none node nose note sire sue cure pure sore lure surf agrees greed lease pleased pleas "
        "tanks hanks thinks thank certainty content convent ever fever lever newer sever nap "
        "olay"
    )
)
# Single words whose small typos are still that word ("yse", "agre", "nopw", "thnaks"). Short
# words ("no", "ok") are left out: one keystroke from them is another word ("on", "oh").
_TYPO_TARGETS = _words(
    "yes yeah yep yup okay sure agree agreed alright absolutely definitely certainly please "
    "thanks nope disagree decline refuse consent ahead problem worries "
    "merci volontiers danke gerne einverstanden gracias"
)

# QWERTY neighbours: a substitution counts as a typo only between keys that touch.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, frozenset[str]]:
    near: dict[str, set[str]] = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            found = near.setdefault(key, set())
            for dr, dc in ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < len(_ROWS) and 0 <= cc < len(_ROWS[rr]):
                    found.add(_ROWS[rr][cc])
    return {k: frozenset(v) for k, v in near.items()}


_NEAR = _neighbours()

_CONTRACTIONS = {
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "isnt": "isn't",
    "wont": "won't",
    "wouldnt": "wouldn't",
    "cant": "can't",
    "shouldnt": "shouldn't",
    "mustnt": "mustn't",
    "im": "i'm",
    "ive": "i've",
    "id": "i'd",
    "thats": "that's",
    "its": "it's",
    "lets": "let's",
    "youre": "you're",
    "ill": "i'll",
    "whats": "what's",
    "cest": "c'est",
}

_TOKEN = re.compile(
    r"(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)"
    r"|(?P<number>\d+%?)"
    r"|(?P<ellipsis>\.{2,}|…)"
    r"|(?P<question>[?¿？؟]+)"
    r"|(?P<boundary>[.,;:!¡/，。、！；])"
    r"|(?P<space>[\s\-–—_*\"'“”‘’`´()\[\]{}~<>«»]+)"
    r"|(?P<other>.)",
    re.S,
)
_HAPPY_EMOTICON = re.compile(r":-?\)+|:-?d(?!\w)|=\)|\(:|:\]|\^_?\^")
# Sad, sarcastic (a wink), unsure: a yes with one of these is not a clear yes.
_OTHER_EMOTICON = re.compile(r"(?:[:;=]-?[(/\\|p*o3\[@$]+|;-?\)+|:'\()(?!\w)")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
# Skin tones, variation selectors and joiners say nothing about yes or no.
_EMOJI_NOISE = re.compile("[\U0001f3fb-\U0001f3ff\ufe0e\ufe0f\u200d]")
_THUMBS = {"👍": "yes", "👎": "no"}
_UNKNOWN_MARK = "\x00"
_DRAWN_OUT = re.compile(r"(.)\1{2,}(?=.)")
_PLAIN = re.compile(r"[a-z]+(?:'[a-z]+)?(?: [a-z]+(?:'[a-z]+)?)*")


def _fold(text: str) -> str:
    """Accents off ("é" to "e", "ü" to "u"), so "bien sûr" and "bien sur" are one phrase."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


def _tokens(text: str) -> list[str]:
    """Words, with punctuation kept as the marks that change a reply's meaning."""
    text = _fold(unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold())
    text = _EMOJI_NOISE.sub("", text)
    text = _HAPPY_EMOTICON.sub(" 🙂 ", text)
    text = _OTHER_EMOTICON.sub(f" {_UNKNOWN_MARK} ", text)
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        kind, value = m.lastgroup, m.group()
        if kind == "word":
            out.append(_CONTRACTIONS.get(value, value))
        elif kind == "ellipsis":
            out.append("…")
        elif kind == "question":
            out.append("?")
        elif kind == "boundary":
            out.append(",")
        elif kind == "number":
            out.append(value if value in ("100%", "50") else _UNKNOWN_MARK)
        elif kind == "other":
            if value == "&":
                out.append("and")
            elif value in _THUMBS:
                out.append(value)
            elif value == "🙂" or unicodedata.category(value) in ("So", "Sk", "Sm", "Cn"):
                out.append(value)  # an emoji: a filler if listed, otherwise unknown
            elif unicodedata.category(value).startswith("P"):
                out.append(",")
            else:
                out.append(_UNKNOWN_MARK)
    return out


def _lexicon() -> dict[tuple[str, ...], _Cat]:
    table: dict[tuple[str, ...], _Cat] = {}
    # Later groups never override earlier ones, so the order is the priority when one phrasing
    # is listed twice: the cautious readings (ambiguous, hedge) come first.
    groups = (
        (_AMBIGUOUS + _all("ambiguous"), _Cat.AMBIGUOUS),
        (_HEDGES + _all("hedge"), _Cat.HEDGE),
        (_NO_PHRASES + _all("no"), _Cat.NO),
        (_NEG_PHRASES + _all("neg"), _Cat.NEG),
        (_NEG_PREFIXES, _Cat.NEG_PREFIX),
        (_YES_PHRASES + _all("yes"), _Cat.YES),
        (_FILLERS + _all("filler"), _Cat.FILLER),
    )
    for patterns, cat in groups:
        for pattern in patterns:
            for phrase in _expand(pattern):
                # Most phrases are plain words already; only the rest need the full tokeniser.
                plain = _PLAIN.fullmatch(phrase) and not set(phrase.split()) & _CONTRACTIONS.keys()
                key = tuple(phrase.split() if plain else _tokens(phrase))
                if key:
                    table.setdefault(key, cat)
    for emoji, meaning in _THUMBS.items():
        table[(emoji,)] = _Cat.YES if meaning == "yes" else _Cat.NO
    table[(",",)] = _Cat.BOUNDARY
    table[("?",)] = _Cat.QUESTION
    return table


_LEXICON = _lexicon()
_LONGEST = max(len(k) for k in _LEXICON)
_VOCABULARY = frozenset(w for key in _LEXICON for w in key)
_SINGLE = {key[0]: cat for key, cat in _LEXICON.items() if len(key) == 1}


def phrases(kind: Literal["yes", "no"]) -> list[str]:
    """Every phrase read as a plain yes (or no), for tests and for a help text listing them."""
    want = _Cat.YES if kind == "yes" else _Cat.NO
    return sorted(" ".join(k) for k, cat in _LEXICON.items() if cat is want)


def _one_edit(word: str, target: str) -> bool:
    """One insertion, deletion, swap of neighbours, or a slip onto a touching key."""
    if word == target or abs(len(word) - len(target)) > 1:
        return word == target
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        if len(diff) == 1:
            a, b = word[diff[0]], target[diff[0]]
            return b in _NEAR.get(a, frozenset())
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and word[diff[0]] == target[diff[1]]
            and word[diff[1]] == target[diff[0]]
        )
    short, long_ = (word, target) if len(word) < len(target) else (target, word)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _squeezed(word: str) -> list[str]:
    """Candidates with long runs of a letter cut down: "yesss" gives "yess" and "yes"."""
    twice = re.sub(r"(.)\1{2,}", r"\1\1", word)
    once = re.sub(r"(.)\1+", r"\1", word)
    return list(dict.fromkeys((twice, once)))


def _correct(word: str) -> str:
    """The known word a customer meant, or the word itself when no single one fits."""
    if word in _VOCABULARY or word in _FOREIGN_WORDS or not word.isalpha():
        return word
    for candidate in _squeezed(word):
        if candidate in _VOCABULARY:
            # A drawn-out middle ("suuure", "okaaay", "yeeeah") is how people type sarcasm or
            # reluctance; a long ending ("yesss", "okkk") is only emphasis.
            if _DRAWN_OUT.search(word) and _SINGLE.get(candidate) is _Cat.YES:
                return "…"
            return candidate
    if word in _BLOCKED_TYPOS or len(word) < 3:
        return word
    for candidate in dict.fromkeys((word, *_squeezed(word))):
        hits = [t for t in _TYPO_TARGETS if _one_edit(candidate, t)]
        cats = {_SINGLE.get(t) for t in hits}
        if hits and len(cats) == 1:
            return min(hits, key=lambda t: (abs(len(t) - len(candidate)), _TYPO_TARGETS.index(t)))
    return word


def _is_foreign(word: str) -> bool:
    if word in _FOREIGN_WORDS:
        return True
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in word)


def _segments(tokens: list[str]) -> list[_Cat]:
    """Cut the reply into known phrases, longest first, so idioms win over their words."""
    out: list[_Cat] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_LONGEST, len(tokens) - i), 0, -1):
            cat = _LEXICON.get(tuple(tokens[i : i + size]))
            if cat is not None:
                out.append(cat)
                i += size
                break
        else:
            out.append(_Cat.FOREIGN if _is_foreign(tokens[i]) else _Cat.UNKNOWN)
            i += 1
    # "not ok", "don't keep my answers": a negation right before a yes makes one no.
    merged: list[_Cat] = []
    for cat in out:
        if cat is _Cat.YES and merged and merged[-1] in (_Cat.NEG, _Cat.NEG_PREFIX):
            merged[-1] = _Cat.NO
        else:
            merged.append(cat)
    return [_Cat.UNKNOWN if cat is _Cat.NEG_PREFIX else cat for cat in merged]


# Why a reply without a yes-no mix is still unclear, most telling first.
_UNCLEAR: tuple[tuple[_Cat, Reason], ...] = (
    (_Cat.QUESTION, "question"),
    (_Cat.HEDGE, "hedge"),
    (_Cat.AMBIGUOUS, "ambiguous"),
    (_Cat.UNKNOWN, "unknown_words"),
)


def read_consent_text(text: str, *, language: str = "en") -> ConsentReading:
    """Read typed words only (no intent, no button): what the customer's words alone say."""
    if len(text) > MAX_REPLY_CHARS:
        return ConsentReading(None, "too_long")
    tokens = [_correct(t) for t in _tokens(text)]
    cats = _segments(tokens)
    if not [c for c in cats if c is not _Cat.BOUNDARY]:
        return ConsentReading(None, "empty")
    if language.split("-")[0] not in READ_LANGUAGES:
        return ConsentReading(None, "not_read")
    found = set(cats) - {_Cat.BOUNDARY, _Cat.FILLER}
    has_yes = _Cat.YES in found
    has_no = bool(found & {_Cat.NO, _Cat.NEG})
    if _Cat.FOREIGN in found:
        return ConsentReading(None, "other_language")
    if has_yes and has_no:
        return ConsentReading(None, "mixed")
    for cat, reason in _UNCLEAR:
        if cat in found:
            return ConsentReading(None, reason)
    if has_yes:
        return ConsentReading(True, "yes")
    if has_no:
        return ConsentReading(False, "no")
    return ConsentReading(None, "no_answer")


def explain_consent(turn: UserTurn, *, language: str = "en") -> ConsentReading:
    """`read_consent` with the reason, for the re-ask message and for counting outcomes."""
    if turn.via_button and turn.intent in ("affirm", "deny"):
        return ConsentReading(turn.intent == "affirm", "button")
    return read_consent_text(turn.text, language=language)


def read_consent(turn: UserTurn, *, language: str = "en") -> bool | None:
    """True for a Yes button or words that can only mean yes, False for a No button or words
    that can only mean no, None (ask again with the buttons) for anything else.

    The intent of typed text is deliberately not consulted: see the module docstring.
    """
    return explain_consent(turn, language=language).value
