"""A `candor updates send` killed with SIGKILL mid-send, then run again to the end: every
follower got the update at most once, and all but at most the one in flight got it.

The sender is a real process against the Telegram stand-in; the kill waits on the stand-in's
count of messages, never on time. Each answer is slowed a little, so that the kill is likely to
catch a message in flight (taken and maybe delivered, but not settled).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.settings import ROOT
from tests.channels.conftest import wait_until
from tests.channels.factories import Credentials
from tests.channels.standins import StandIns, running_standins
from tests.channels.updates_kit import BRAND, Person, add_followers, progress, publish, queue_update
from tests.stack import make_settings

FOLLOWERS = 40


@pytest.fixture
def platforms() -> Iterator[StandIns]:
    with running_standins() as running:
        yield running


@pytest.mark.slow
def test_a_send_killed_midway_and_run_again_sends_each_update_at_most_once(
    tmp_path: Path, platforms: StandIns
) -> None:
    creds = Credentials.random()
    channels = {BRAND: creds.settings(platforms)}
    settings = make_settings(tmp_path, channels=channels)
    stores = settings.open_stores()
    publish(stores, tmp_path)
    people = [Person(f"s{n:03d}", "telegram", str(8_000_000 + n)) for n in range(FOLLOWERS)]
    add_followers(stores, people)
    update = queue_update(stores, [p.subject for p in people], datetime.now(UTC) - timedelta(1))
    platforms.telegram.delay_s = 0.03
    assert settings.secret_key is not None
    env = {
        **os.environ,
        "CANDOR_DATA_DIR": str(settings.data_dir),
        "CANDOR_RUN_DIR": str(settings.run_dir),
        "CANDOR_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CANDOR_CHANNELS": json.dumps(channels),
        "COLUMNS": "120",
    }
    command = [sys.executable, "-m", "bot", "updates", "send", BRAND, update]
    command += ["--telegram-rate", "200"]

    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_until(lambda: len(platforms.telegram.delivered("sendMessage")) >= 10, "10 messages")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    before = len(platforms.telegram.delivered("sendMessage"))
    assert before < FOLLOWERS, "the first run finished before it was killed"

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr

    chats = Counter(c.body["chat_id"] for c in platforms.telegram.delivered("sendMessage"))
    assert max(chats.values()) == 1, "someone got the update twice"
    assert len(chats) >= FOLLOWERS - 1
    counts = progress(stores, update)
    in_flight = counts["sending"] + counts["unknown"]  # held until its hold ends, then unknown
    assert counts["sent"] + in_flight == FOLLOWERS
    assert in_flight <= 1
    assert counts["sent"] <= len(chats)  # nothing is recorded sent that did not arrive
    stores.dispose()
