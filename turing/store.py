"""The study database: one SQLite file in WAL mode, beside the study's images.

Every answer is one row keyed by (participant, trial index), written in its own transaction as it
arrives: a double click, a retry or a reload finds the row there and stores nothing, and a server
killed at any moment keeps every answer it acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from colorize_core.errors import ChromasweepError
from turing.settings import StudySettings

DB_FILE = "study.sqlite"
_WRITER = threading.Lock()
IMAGES_DIR = "images"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS arms (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL,
    run_id TEXT, registered_model TEXT, registered_version TEXT);
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY, arm TEXT, kind TEXT NOT NULL, photo TEXT NOT NULL,
    real_left TEXT NOT NULL UNIQUE, real_right TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS participants (
    id TEXT PRIMARY KEY, arm TEXT NOT NULL, code TEXT NOT NULL, started REAL NOT NULL, finished REAL);
CREATE TABLE IF NOT EXISTS trials (
    participant TEXT NOT NULL REFERENCES participants(id), idx INTEGER NOT NULL,
    pair INTEGER NOT NULL REFERENCES pairs(id), phase TEXT NOT NULL, real_side TEXT NOT NULL,
    shown_at REAL, PRIMARY KEY (participant, idx));
CREATE TABLE IF NOT EXISTS answers (
    participant TEXT NOT NULL, idx INTEGER NOT NULL, choice TEXT NOT NULL, answered_at REAL NOT NULL,
    PRIMARY KEY (participant, idx), FOREIGN KEY (participant, idx) REFERENCES trials(participant, idx));
"""


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"

    @property
    def other(self) -> Side:
        return Side.RIGHT if self is Side.LEFT else Side.LEFT


class PairKind(StrEnum):
    PRACTICE = "practice"  # a model's colorization, shown with feedback
    TEST = "test"  # a model's colorization (or, in the control arm, the real photo again)
    ATTENTION = "attention"  # the fake is a grayscale copy: anyone looking picks it


class Phase(StrEnum):
    PRACTICE = "practice"
    TEST = "test"


class ArmKind(StrEnum):
    MODEL = "model"
    CONTROL = "control"  # real versus real: the "fake" is the real photo itself


CONTROL_ARM = "real-vs-real"


class StudyError(ChromasweepError, ValueError):
    """A study folder that cannot be used as asked: missing, already there, not a study."""


@contextmanager
def connect(study: Path, *, write: bool = False):
    """A connection to the study's database; with ``write``, one IMMEDIATE transaction that commits
    on leaving the block (so concurrent writers queue instead of failing half-way)."""
    path = Path(study) / DB_FILE
    if not path.is_file():
        raise StudyError(f"{study}: not a study folder (no {DB_FILE}; create one with 'chromasweep turing create')")
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 60000")
    try:
        if write:
            # Writers of this process queue on a lock: SQLite's own busy wait sleeps in steps of up to
            # 100 ms, which made the slowest answers ten times slower than the median under load.
            with _WRITER:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        else:
            yield db
    finally:
        db.close()


def initialise(study: Path, settings: StudySettings, token: str, admin_token: str) -> None:
    path = Path(study) / DB_FILE
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")  # persistent: readers never wait for the writer
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("settings", settings.model_dump_json()),
                ("token", token),
                ("admin_token", admin_token),
                ("name", Path(study).name),
            ],
        )
    finally:
        db.close()


def read_settings(db: sqlite3.Connection) -> StudySettings:
    return StudySettings.model_validate_json(db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])


def read_meta(db: sqlite3.Connection, key: str) -> str:
    return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]


def arms(db: sqlite3.Connection) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM arms ORDER BY rowid").fetchall()


def as_json(rows) -> str:
    return json.dumps([dict(r) for r in rows])
