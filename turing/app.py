"""The study's web app: plain pages, a small JSON API, the images; every answer committed as it comes.

Nothing a participant's browser receives says which image is real: one JPEG per trial under a random
name, the same headers for every file, and no truth in a test trial's reply.
"""

from __future__ import annotations

import html
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from turing import sessions
from turing.report import format_report, study_report
from turing.store import IMAGES_DIR, Side, connect, read_meta, read_settings

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]  # where serving needs no --allowed-host
IMAGE_NAME = re.compile(r"[0-9a-f]{32}\.jpg")
NO_STORE = {"Cache-Control": "no-store"}


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = None


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idx: int = Field(ge=0)
    choice: Side  # the image the participant thinks a computer coloured


def page(name: str) -> str:
    return (files("turing") / "pages" / name).read_text()


def make_app(study: Path, allowed_hosts: list[str] | None = None) -> FastAPI:
    study = Path(study)
    with connect(study) as db:
        settings, token, admin = read_settings(db), read_meta(db, "token"), read_meta(db, "admin_token")
    app = FastAPI(title="chromasweep Turing study", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or LOOPBACK_HOSTS)

    @app.exception_handler(sessions.Refused)
    def refused(_: Request, err: sessions.Refused) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status, headers=NO_STORE)

    def check_token(given: str | None) -> None:
        if settings.require_token and given != token:
            raise HTTPException(403, "this study needs the link it was shared with (its token is missing or wrong)")

    @app.get("/", response_class=HTMLResponse)
    def instructions(token: str | None = None) -> str:
        check_token(token)
        return (
            page("index.html")
            .replace("{{practice}}", str(settings.practice_trials))
            .replace("{{tests}}", str(settings.test_trials + settings.attention_checks))
            .replace("{{seconds}}", f"{settings.display_ms / 1000:g}")
        )

    @app.post("/api/sessions", status_code=201)
    def new_session(body: NewSession) -> dict:
        check_token(body.token)
        with connect(study, write=True) as db:
            participant = sessions.start(db)
        return {"participant": participant, "url": f"/s/{participant}"}

    @app.get("/s/{participant}", response_class=HTMLResponse)
    def trial_page(participant: str) -> str:
        with connect(study) as db:
            sessions.participant_row(db, participant)
        return page("trial.html").replace("{{display_ms}}", str(settings.display_ms))

    @app.get("/api/s/{participant}/next")
    def next_trial(participant: str) -> JSONResponse:
        with connect(study, write=True) as db:
            trial = sessions.next_trial(db, participant)
        if isinstance(trial, str):
            return JSONResponse({"done": True, "code": trial}, headers=NO_STORE)
        return JSONResponse(
            {
                "done": False,
                "idx": trial.idx,
                "phase": trial.phase,
                "number": trial.number,
                "of": trial.of,
                "image": f"/img/{trial.image}",
            },
            headers=NO_STORE,
        )

    @app.post("/api/s/{participant}/answer")
    def answer(participant: str, body: Answer) -> JSONResponse:
        with connect(study, write=True) as db:
            return JSONResponse(sessions.answer(db, participant, body.idx, body.choice), headers=NO_STORE)

    @app.get("/img/{name}")
    def image(name: str) -> Response:
        path = study / IMAGES_DIR / name
        if not IMAGE_NAME.fullmatch(name) or not path.is_file():
            raise HTTPException(404, "no such image")
        # Bytes, not a file response: no Last-Modified or ETag that would carry a file's write order.
        return Response(path.read_bytes(), media_type="image/jpeg", headers=NO_STORE)

    @app.get(f"/admin/{admin}/report", response_class=HTMLResponse, include_in_schema=False)
    def report() -> str:
        with connect(study) as db:
            text = format_report(study_report(db))
        return page("report.html").replace("{{report}}", html.escape(text))

    return app
