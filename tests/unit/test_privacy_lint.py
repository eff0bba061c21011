"""The privacy linter: each careless flow of issue 15 is refused with its place and a hint, good
flows pass, detection works in every supported language, and publication goes through it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.brands import create_brand, publish_flow_source
from bot.cli.app import app
from bot.gateway.app import create_app
from consent_flows.loader import FlowInvalid
from nlu.privacy_lint import PrivacyInvalid, check_file, check_source
from nlu.privacy_lint.detect import LANGUAGES, detector
from nlu.privacy_lint.evaluate import CLASSES, predict, questions, score
from storage import registry
from storage.stores import Stores
from tests.factories import EXAMPLES, ROOT
from tests.stack import make_settings

PRIVACY_BROKEN = sorted((EXAMPLES / "broken" / "privacy").glob("*.yaml"))
GOOD = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("tricky/*.yaml")])
ERROR_CODES = {
    "identifier-undeclared",
    "identifier-in-say",
    "special-not-sensitive",
    "sensitive-not-explicit",
    "say-asks",
    "thin-notice",
    "use-not-shown",
}
# Floors, not the measured figures (docs/flows.md): they fail when detection breaks, and leave
# room for term-list edits that trade one question for another.
FLOOR = 0.85

FLOW = """brand: basics-store
version: {version}
language: {language}
greeting: "Hi, I'm the shop's assistant, a bot."
purposes:
  needs:
    notice: "{notice}"
    retention_days: 90{extra}
steps:
  - consent: needs
  - ask: {{id: q, purpose: needs, text: "{question}"}}
  - end: "Thanks!"
"""


def flow(
    question: str,
    *,
    notice: str = "We'll keep what you tell us, in your words, to choose what we stock.",
    language: str = "en",
    extra: str = "",
    version: int = 2,
) -> str:
    return FLOW.format(
        question=question, notice=notice, language=language, extra=extra, version=version
    )


def expectations(path: Path) -> tuple[list[str], int]:
    header = path.read_text().splitlines()[0].removeprefix("# expect:")
    parts = [p.strip() for p in header.split("|")]
    return parts[:-1], int(parts[-1].removeprefix("line "))


def test_there_is_a_broken_example_per_linter_error() -> None:
    codes = {expectations(p)[0][0] for p in PRIVACY_BROKEN}
    assert codes == ERROR_CODES


@pytest.mark.parametrize("path", PRIVACY_BROKEN, ids=lambda p: p.stem)
def test_broken_example_is_refused_with_its_finding(path: Path) -> None:
    wanted, line = expectations(path)
    with pytest.raises(PrivacyInvalid) as caught:
        check_file(path)
    matching = [
        e
        for e in caught.value.errors
        if all(w in f"{e.code} {e.message} {e.hint}" for w in wanted)  # type: ignore[attr-defined]
    ]
    assert matching, f"no error says {wanted}; got {[str(e) for e in caught.value.errors]}"
    assert (matching[0].file, matching[0].line) == (str(path), line)
    assert matching[0].column >= 1


@pytest.mark.parametrize("path", PRIVACY_BROKEN, ids=lambda p: p.stem)
def test_cli_validate_fails_on_a_privacy_error(path: Path) -> None:
    result = CliRunner().invoke(app, ["flows", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{expectations(path)[1]}:" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_example_flows_pass_the_linter(path: Path) -> None:
    assert check_file(path).warnings == []


def test_doc_examples_pass_the_linter() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "flows.md").read_text(), re.S)
    for block in blocks:
        check_source(block, source="docs/flows.md")


def test_declaring_what_is_collected_lets_the_question_through() -> None:
    question = "What's your e-mail address, so we can send the catalogue?"
    with pytest.raises(PrivacyInvalid) as caught:
        check_source(flow(question))
    assert [e.code for e in caught.value.errors] == ["identifier-undeclared"]  # type: ignore[attr-defined]
    assert "collects: [contact]" in caught.value.errors[0].hint
    check_source(flow(question, extra="\n    collects: [contact]"))


def test_identity_is_not_contact() -> None:
    with pytest.raises(PrivacyInvalid) as caught:
        check_source(flow("When were you born?", extra="\n    collects: [contact]"))
    assert "collects: [contact, identity]" in caught.value.errors[0].hint


@pytest.mark.parametrize(
    ("language", "question", "code"),
    [
        ("fr", "Quel est votre numéro de téléphone ?", "identifier-undeclared"),
        ("de", "Wie lautet Ihre Handynummer?", "identifier-undeclared"),
        ("es", "¿Cuál es tu número de pasaporte?", "identifier-undeclared"),
        ("fr", "Avez-vous des allergies alimentaires ?", "special-not-sensitive"),
        ("de", "Sind Sie Mitglied einer Gewerkschaft?", "special-not-sensitive"),
        ("es", "¿Cuál es tu religión?", "special-not-sensitive"),
        ("en", "Which political party do you support?", "special-not-sensitive"),
    ],
)
def test_each_language_is_read(language: str, question: str, code: str) -> None:
    with pytest.raises(PrivacyInvalid) as caught:
        check_source(flow(question, language=language))
    assert code in {e.code for e in caught.value.errors}  # type: ignore[attr-defined]


def test_a_sensitive_purpose_that_names_its_category_passes() -> None:
    notice = "We'd like to note any health problems you tell us about, to choose what we stock."
    source = flow("Do you have a food allergy?", notice=notice, extra="\n    sensitive: true")
    check_source(source)
    vague = "We'd like to note what you tell us, to choose what we stock."
    with pytest.raises(PrivacyInvalid) as caught:
        check_source(source.replace(notice, vague))
    assert [e.code for e in caught.value.errors] == ["sensitive-not-explicit"]  # type: ignore[attr-defined]


def say(text: str) -> str:
    return flow("What are you shopping for?").replace(
        "  - consent: needs\n", f'  - consent: needs\n  - say: "{text}"\n'
    )


def test_an_example_phone_number_in_a_request_is_found_by_its_digits() -> None:
    # "your mobile" is in no term list: the number written as an example gives it away.
    with pytest.raises(PrivacyInvalid) as caught:
        check_source(say("Please send us your mobile, e.g. 07911 123456."))
    assert [e.code for e in caught.value.errors] == ["identifier-in-say"]  # type: ignore[attr-defined]
    check_source(say("Call us on 020 7946 0958 any time."))  # the brand's own number asks nothing


def test_an_unknown_language_is_refused_naming_the_ones_candor_speaks() -> None:
    with pytest.raises(FlowInvalid) as caught:
        check_source(flow("What are you shopping for?", language="it"))
    [error] = caught.value.errors
    assert "does not speak 'it' yet; it speaks en, fr, de, es" in error.message
    assert error.line == 3


def test_json_report_carries_code_and_severity(tmp_path: Path) -> None:
    import json

    path = EXAMPLES / "broken" / "privacy" / "thin_notice.yaml"
    result = CliRunner().invoke(app, ["flows", "validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)["files"]
    assert report["errors"][0]["code"] == "thin-notice"
    assert report["errors"][0]["severity"] == "error"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_detection_on_the_labelled_questions_stays_above_the_floor(lang: str) -> None:
    items = [q for q in questions() if q.lang == lang]
    assert len(items) >= 50
    table = score(items, predict(items))
    for cls in CLASSES:
        s = table[lang, cls]
        assert s.precision >= FLOOR, (cls, s)
        assert s.recall >= FLOOR, (cls, s)


def test_the_labelled_set_is_big_enough_and_balanced() -> None:
    items = questions()
    assert len(items) >= 200
    for lang in LANGUAGES:
        assert {q.label for q in items if q.lang == lang} == set(CLASSES)
    assert {q.split for q in items} == {"dev", "test", "blind"}


def test_the_detector_is_loaded_once() -> None:
    assert detector("fr-CA") is detector("fr")


# Publication: the CLI, the admin API and the demo set-up all go through bot.brands.


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    found = Stores(make_settings(tmp_path).data_dir)
    yield found
    found.dispose()


def test_publication_refuses_a_privacy_error_and_keeps_the_live_version(stores: Stores) -> None:
    create_brand(stores, EXAMPLES / "basics-store.yaml")
    with pytest.raises(FlowInvalid):
        publish_flow_source(
            stores, brand="basics-store", source=flow("What's your postcode?"), origin="f.yaml"
        )
    with stores.registry() as session:
        live = registry.latest_flow(session, brand="basics-store")
        assert live is not None
        assert live.version == 1


def test_admin_api_answers_422_with_the_findings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    try:
        _, key = create_brand(stores, EXAMPLES / "basics-store.yaml")
        with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
            response = c.post(
                "/api/v1/brands/basics-store/flows",
                content=flow("Are you a member of a trade union?").encode(),
                headers={"content-type": "application/yaml", "authorization": f"Bearer {key}"},
            )
            assert response.status_code == 422, response.text
            body = response.json()
            assert body["error"] == "invalid_flow"
            [finding] = body["errors"]
            assert finding["code"] == "special-not-sensitive"
            assert finding["severity"] == "error"
            assert finding["line"] == 11
            assert "sensitive: true" in finding["hint"]
            fine = c.post(
                "/api/v1/brands/basics-store/flows",
                content=flow("What are you shopping for?").encode(),
                headers={"content-type": "application/yaml", "authorization": f"Bearer {key}"},
            )
            assert fine.status_code == 201, fine.text
    finally:
        stores.dispose()


def test_cli_publish_refuses_a_privacy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CANDOR_SECRET_KEY", raising=False)
    cli = CliRunner()
    created = cli.invoke(app, ["brands", "create", str(EXAMPLES / "basics-store.yaml")])
    assert created.exit_code == 0, created.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(flow("What's your date of birth?"))
    result = cli.invoke(app, ["flows", "publish", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:11:" in result.stderr
    assert "identifier-undeclared" not in result.stderr or "collects" in result.stderr
    assert "unchanged" in result.stderr
