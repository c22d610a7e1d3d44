"""A participant's session: which arm, which trials in which order, and answers taken exactly once.

A session tests one arm (the one with the fewest sessions so far), so a participant cannot learn one
model's artefacts from another's. Practice trials come first, with feedback; then the test trials,
with the attention checks among them at random places (never first).
"""

from __future__ import annotations

import random
import secrets
import sqlite3
import time
from dataclasses import dataclass

from colorize_core.errors import ChromasweepError
from turing.store import ArmKind, PairKind, Phase, Side, read_settings


class Refused(ChromasweepError):
    """A request that does not fit the study; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Trial:
    idx: int
    phase: Phase
    number: int  # 1-based, within its phase
    of: int
    image: str


def start(db: sqlite3.Connection) -> str:
    """A new participant: their id (also the secret in their link)."""
    settings = read_settings(db)
    counts = db.execute(
        "SELECT a.name, a.kind, COUNT(p.id) AS n FROM arms a LEFT JOIN participants p ON p.arm = a.name "
        "GROUP BY a.name ORDER BY a.rowid"
    ).fetchall()
    fewest = min(row["n"] for row in counts)
    rng = random.Random(secrets.randbits(64))
    arm = rng.choice([row for row in counts if row["n"] == fewest])

    def pick(kind: PairKind, arm_name: str | None, k: int, avoid: set[str] = frozenset()) -> list[int]:
        query = "SELECT id, photo FROM pairs WHERE kind = ? AND " + ("arm IS NULL" if arm_name is None else "arm = ?")
        rows = db.execute(query, (kind,) if arm_name is None else (kind, arm_name)).fetchall()
        return rng.sample([r["id"] for r in rows if r["photo"] not in avoid], k)

    # The control arm has no colorizations of its own to practise on: it practises on the first model's.
    first_model = next(r["name"] for r in counts if r["kind"] == ArmKind.MODEL)
    practice = pick(
        PairKind.PRACTICE, arm["name"] if arm["kind"] == ArmKind.MODEL else first_model, settings.practice_trials
    )
    tests = pick(PairKind.TEST, arm["name"], settings.test_trials)
    # Never a photo this participant also sees as a test: a check shows its real colours beside gray.
    seen = {r[0] for r in db.execute(f"SELECT photo FROM pairs WHERE id IN ({','.join('?' * len(tests))})", tests)}
    checks = pick(PairKind.ATTENTION, None, settings.attention_checks, avoid=seen)
    for pair in checks:
        tests.insert(rng.randint(1, len(tests)), pair)
    participant = secrets.token_urlsafe(16)
    db.execute(
        "INSERT INTO participants VALUES (?, ?, ?, ?, NULL)",
        (participant, arm["name"], secrets.token_hex(4).upper(), time.time()),
    )
    plan = [(Phase.PRACTICE, p) for p in practice] + [(Phase.TEST, p) for p in tests]
    db.executemany(
        "INSERT INTO trials VALUES (?, ?, ?, ?, ?, NULL)",
        [(participant, i, pair, phase, rng.choice(list(Side))) for i, (phase, pair) in enumerate(plan)],
    )
    return participant


def participant_row(db: sqlite3.Connection, participant: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM participants WHERE id = ?", (participant,)).fetchone()
    if row is None:
        raise Refused(404, "no such session")
    return row


def _pending(db: sqlite3.Connection, participant: str) -> sqlite3.Row | None:
    """The first trial without an answer: the only one a participant may see or answer now."""
    return db.execute(
        "SELECT t.* FROM trials t LEFT JOIN answers a ON a.participant = t.participant AND a.idx = t.idx "
        "WHERE t.participant = ? AND a.idx IS NULL ORDER BY t.idx LIMIT 1",
        (participant,),
    ).fetchone()


def next_trial(db: sqlite3.Connection, participant: str) -> Trial | str:
    """The trial to show now (marked as shown), or the completion code once every trial is answered."""
    row = participant_row(db, participant)
    trial = _pending(db, participant)
    if trial is None:
        if row["finished"] is None:
            db.execute("UPDATE participants SET finished = ? WHERE id = ?", (time.time(), participant))
        return row["code"]
    if trial["shown_at"] is None:
        db.execute(
            "UPDATE trials SET shown_at = ? WHERE participant = ? AND idx = ?", (time.time(), participant, trial["idx"])
        )
    pair = db.execute("SELECT real_left, real_right FROM pairs WHERE id = ?", (trial["pair"],)).fetchone()
    phase = Phase(trial["phase"])
    first, count = db.execute(
        "SELECT MIN(idx), COUNT(*) FROM trials WHERE participant = ? AND phase = ?", (participant, phase)
    ).fetchone()
    image = pair["real_left"] if trial["real_side"] == Side.LEFT else pair["real_right"]
    return Trial(trial["idx"], phase, trial["idx"] - first + 1, count, image)


def answer(db: sqlite3.Connection, participant: str, idx: int, choice: Side) -> dict:
    """Store ``choice`` (the image the participant thinks a computer coloured) for trial ``idx``.

    The same answer again is acknowledged and stores nothing; anything else that does not fit the
    session's order is refused. Practice answers get the truth back; test answers get nothing."""
    participant_row(db, participant)
    trial = db.execute("SELECT * FROM trials WHERE participant = ? AND idx = ?", (participant, idx)).fetchone()
    if trial is None:
        raise Refused(404, f"trial {idx} is not in this session")
    given = db.execute("SELECT choice FROM answers WHERE participant = ? AND idx = ?", (participant, idx)).fetchone()
    if given is not None:
        if given["choice"] != choice:
            raise Refused(409, f"trial {idx} was already answered differently")
        return _reply(trial, stored=False)
    pending = _pending(db, participant)
    if pending is None or pending["idx"] != idx:
        raise Refused(409, f"trial {idx} is out of order: trial {pending['idx'] if pending else '-'} comes first")
    if trial["shown_at"] is None:
        raise Refused(409, f"trial {idx} has not been shown yet")
    db.execute("INSERT INTO answers VALUES (?, ?, ?, ?)", (participant, idx, choice.value, time.time()))
    return _reply(trial, stored=True)


def _reply(trial: sqlite3.Row, stored: bool) -> dict:
    reply: dict = {"stored": stored}
    if trial["phase"] == Phase.PRACTICE:
        reply["fake"] = Side(trial["real_side"]).other.value
    return reply
