"""Per-message NLU latency of one trained Rasa model.

Runs inside .venv-rasa (Python 3.10), from the repo root:

    .venv-rasa/bin/python benchmarks/nlu_pipelines/latency.py /tmp/nlumodels/logreg.tar.gz

Loads the model with `rasa.core.agent.Agent.load`, makes WARMUP untimed calls, then times
`await agent.parse_message(text)` over N messages (a fixed list of survey answers, consent replies
and control commands, cycled) and prints p50 / p95 / mean in milliseconds. With --json-out FILE the
result is also written as one JSON object (used by run.sh and languages.sh). --lang fr|de|es|all
times a French, German, Spanish or four-language mix instead; the result also holds the process's
VmRSS after loading the model and warming up (the memory of one engine's NLU with that model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from itertools import cycle, islice

# Answers to survey questions (what Candor must keep as the customer's answer).
ANSWERS = [
    "hiking boots",
    "a rain jacket for cycling to work",
    "mostly trail running at the weekend",
    "decaf coffee, a lot of it",
    "oat milk flat white",
    "a savings account with a better rate",
    "the app logs me out every day",
    "delivery took two weeks last time",
    "hidden fees on my statement",
    "probably a new tent for the summer",
    "my kids drag me outside",
    "I feel a bit stressed about money",
    "pretty happy overall",
    "not sure, maybe socks",
    "queues at the checkout are far too long",
    "the staff were pushy",
    "cheaper delivery would help",
    "a waterproof jacket that actually stays dry",
    "climbing shoes in a size 43",
    "green tea, no sugar",
    "walking the dog twice a day",
    "I stopped buying there because of returns",
    "the help page never answers my question",
    "skiing in January",
    "a credit card without foreign transaction fees",
    "three times a week",
    "about fifty pounds a month",
    "honestly the price",
    "nothing comes to mind",
    "a lighter backpack for day hikes",
    "espresso beans from Colombia",
    "quick checkout on the website",
    "more sizes in store",
    "I'd say seven out of ten",
    "the mobile app crashes when I pay",
    "running shoes with more cushioning",
    "a fleece for autumn",
    "I mostly shop online now",
    "getting out of the city on Sundays",
    "a bit overwhelmed by all the options",
]
# Replies to consent questions.
CONSENT = [
    "yes",
    "yes please",
    "sure, go ahead",
    "ok",
    "that's fine by me",
    "I agree",
    "no",
    "no thanks",
    "nope",
    "I'd rather not",
    "definitely not",
    "yeah why not",
]
# Control commands and small talk (what should interrupt a question).
COMMANDS = [
    "stop",
    "please stop asking me questions",
    "I want to quit",
    "skip",
    "skip this one",
    "next question please",
    "why do you need this?",
    "why are you asking",
    "what is this for",
    "help",
    "what can I say here",
    "how does this work",
    "I withdraw my consent",
    "I changed my mind about sharing my data",
    "delete everything you have about me",
    "forget me",
    "erase my data",
    "what data do you have on me",
    "show me my answers",
    "can I see what I told you",
    "I want to change my last answer",
    "go back, I made a mistake",
    "change my answer please",
    "bye",
    "goodbye, thanks",
    "see you",
    "hi",
    "hello there",
    "good morning",
]
MESSAGES = ANSWERS + CONSENT + COMMANDS
# The same mix in French, German and Spanish (--lang; "all" cycles through the four languages).
MESSAGES_BY_LANG = {
    "en": MESSAGES,
    "fr": [
        "des chaussures de randonnée",
        "une veste imperméable pour le vélo",
        "surtout de la course le week-end",
        "du café décaféiné",
        "un compte épargne avec un meilleur taux",
        "l'appli me déconnecte tous les jours",
        "la livraison a pris deux semaines",
        "des frais cachés sur mon relevé",
        "je suis un peu stressé par l'argent",
        "trois fois par semaine",
        "oui",
        "oui d'accord",
        "non merci",
        "bien sûr",
        "stop",
        "je veux arrêter",
        "question suivante",
        "pourquoi vous demandez ça ?",
        "aide",
        "je retire mon consentement",
        "effacez mes données",
        "qu'est-ce que vous savez sur moi",
        "je veux changer ma réponse",
        "au revoir",
        "bonjour",
    ],
    "de": [
        "wanderschuhe",
        "eine regenjacke fürs fahrrad",
        "vor allem laufen am wochenende",
        "entkoffeinierter kaffee",
        "ein sparkonto mit besseren zinsen",
        "die app meldet mich jeden tag ab",
        "die lieferung hat zwei wochen gedauert",
        "versteckte gebühren auf dem kontoauszug",
        "ich bin etwas gestresst wegen geld",
        "dreimal pro woche",
        "ja",
        "ja gerne",
        "nein danke",
        "natürlich",
        "stopp",
        "ich will aufhören",
        "nächste frage",
        "warum fragst du das?",
        "hilfe",
        "ich widerrufe meine einwilligung",
        "lösch meine daten",
        "was wisst ihr über mich",
        "ich will meine antwort ändern",
        "tschüss",
        "hallo",
    ],
    "es": [
        "botas de montaña",
        "una chaqueta impermeable para la bici",
        "sobre todo correr el fin de semana",
        "café descafeinado",
        "una cuenta de ahorro con mejor interés",
        "la app me cierra la sesión cada día",
        "la entrega tardó dos semanas",
        "comisiones ocultas en mi extracto",
        "estoy un poco estresado por el dinero",
        "tres veces por semana",
        "sí",
        "sí, claro",
        "no gracias",
        "por supuesto",
        "para",
        "quiero parar",
        "siguiente pregunta",
        "¿por qué preguntas eso?",
        "ayuda",
        "retiro mi consentimiento",
        "borra mis datos",
        "qué sabes de mí",
        "quiero cambiar mi respuesta",
        "adiós",
        "hola",
    ],
}
MESSAGES_BY_LANG["all"] = [m for lang in ("en", "fr", "de", "es") for m in MESSAGES_BY_LANG[lang]]


def rss_kib() -> int:
    """Resident memory of this process (an engine with the model loaded), from /proc."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (same as numpy's default), q in [0, 100]."""
    if not sorted_values:
        raise ValueError("no values")
    k = (len(sorted_values) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def measure(model_path: str, n: int, warmup: int, lang: str = "en") -> dict:
    # Models may name custom components by a repo-relative module path
    # (sklearn_svm.yml uses benchmarks.nlu_pipelines.sparse_to_dense...), as `rasa` does from cwd.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # As `rasa run` does at startup. Without it structlog's default config prints every
    # debug event (one line per parsed message) to stdout, which would be timed as well.
    configure_structlog(logging.WARNING)

    t0 = time.perf_counter()
    agent = Agent.load(model_path)
    load_s = time.perf_counter() - t0

    messages = MESSAGES_BY_LANG[lang]
    for text in islice(cycle(messages), warmup):
        await agent.parse_message(text)
    rss_loaded = rss_kib()

    timings_ms: list[float] = []
    for text in islice(cycle(messages), n):
        start = time.perf_counter()
        await agent.parse_message(text)
        timings_ms.append((time.perf_counter() - start) * 1000.0)

    timings_ms.sort()
    return {
        "model": os.path.basename(model_path),
        "messages": n,
        "lang": lang,
        "distinct_messages": len(messages),
        "rss_mib": round(rss_loaded / 1024, 1),
        "model_bytes": os.path.getsize(model_path),
        "warmup": warmup,
        "load_s": round(load_s, 2),
        "p50_ms": round(percentile(timings_ms, 50), 2),
        "p95_ms": round(percentile(timings_ms, 95), 2),
        "mean_ms": round(statistics.fmean(timings_ms), 2),
        "max_ms": round(timings_ms[-1], 2),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_path", help="a trained model, e.g. /tmp/nlumodels/logreg.tar.gz")
    parser.add_argument("-n", type=int, default=300, help="timed calls (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the result as JSON")
    parser.add_argument(
        "--lang", default="en", choices=sorted(MESSAGES_BY_LANG), help="message mix (default en)"
    )
    args = parser.parse_args(argv)

    result = asyncio.run(measure(args.model_path, args.n, args.warmup, args.lang))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(result, f)
            f.write("\n")
    print(
        f"{result['model']}: p50 {result['p50_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms, "
        f"mean {result['mean_ms']:.2f} ms over {result['messages']} messages "
        f"({result['distinct_messages']} distinct {result['lang']}, {result['warmup']} warm-up "
        f"calls; model load {result['load_s']:.1f} s, VmRSS {result['rss_mib']} MiB, "
        f"1-min load average {result['loadavg_1m']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
