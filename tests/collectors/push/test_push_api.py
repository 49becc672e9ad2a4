"""``POST /api/v1/ingest/{source}`` through the real application on both backends: counts, duplicates,
quarantine, 個人番号 masking, Idempotency-Key, tokens, limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from push_support import count, rows, trail, welfare_line
from sqlalchemy import Engine

from auditd.events import repository as events_repo
from auditd.privacy.mynumber import check_digit
from auditd.settings import Settings
from collectors.pipeline import Ingestor, StreamIngest
from collectors.profile import resolve_profile
from collectors.push import service

VALID_NUMBER = "12345678901" + str(check_digit("12345678901"))
URL = "/api/v1/ingest/welfare-push"
NDJSON = "application/x-ndjson"
TAX_HEADER = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"


def headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": NDJSON, **extra}


def ndjson(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def token(add_source: Callable[..., str]) -> str:
    return add_source("welfare-push")


MIXED = ndjson(
    welfare_line(1),
    welfare_line(1),  # the same record twice in one push: two operations, two events
    welfare_line(2, op="NOPE"),  # a code the profile does not know
    "{not json",
    welfare_line(3, note=f"本人確認 {VALID_NUMBER}"),
    "",  # blank lines carry nothing
)


def test_a_push_is_counted_exactly_and_a_repeat_stores_nothing_twice(
    app_client: TestClient, engine: Engine, token: str
):
    first = app_client.post(URL, content=MIXED, headers=headers(token))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body == {
        "run_id": body["run_id"],
        "read": 5,
        "accepted": 3,
        "duplicate": 0,
        "quarantined": 2,
        "masked": 1,
        "quarantine_reasons": {"unknown_code": 1, "bad_json": 1},
    }
    again = app_client.post(URL, content=MIXED, headers=headers(token)).json()
    assert (again["read"], again["accepted"], again["duplicate"], again["quarantined"]) == (5, 0, 3, 2)
    assert again["run_id"] != body["run_id"], "without an Idempotency-Key a repeat is a new run"
    assert count(engine, "events") == 3
    assert count(engine, "quarantine") == 2, "a bad record pushed twice is kept once"
    stored = rows(engine, "SELECT source FROM events")
    assert {r.source for r in stored} == {"welfare-push"}, "events are stored under the source's own name"
    with engine.connect() as conn:
        refs = events_repo.raw_refs(conn, "999997")
    assert refs == ["push:welfare-push:1", "push:welfare-push:2", "push:welfare-push:5"]
    [source] = rows(engine, "SELECT last_event_ts FROM sources WHERE name = 'welfare-push'")
    assert source.last_event_ts is not None


def test_a_personal_number_in_a_pushed_record_is_masked_in_the_store(
    app_client: TestClient, engine: Engine, token: str
):
    body = ndjson(welfare_line(3, note=f"本人確認 {VALID_NUMBER}"), "{broken " + VALID_NUMBER)
    result = app_client.post(URL, content=body, headers=headers(token)).json()
    assert (result["accepted"], result["masked"], result["quarantined"]) == (1, 1, 1)
    [event] = rows(engine, "SELECT detail, pii_masked FROM events")
    assert event.detail == "本人確認 [個人番号]" and event.pii_masked
    [bad] = rows(engine, "SELECT raw_text FROM quarantine")
    assert bad.raw_text == "{broken [個人番号]"
    for table, column in (("events", "detail"), ("quarantine", "raw_text"), ("quarantine", "reason")):
        assert not rows(engine, f"SELECT 1 FROM {table} WHERE {column} LIKE :n", n=f"%{VALID_NUMBER}%")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer_and_stores_nothing(
    app_client: TestClient, engine: Engine, token: str
):
    # A bad record already quarantined by an earlier push: the keyed push counts it, although its
    # quarantine row belongs to the earlier run. The replay must still give the first answer.
    app_client.post(URL, content=ndjson("{not json"), headers=headers(token))
    keyed = headers(token, **{"Idempotency-Key": "batch-0001"})
    first = app_client.post(URL, content=MIXED, headers=keyed)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    before = {t: count(engine, t) for t in ("events", "ingest_runs", "ingest_batches", "quarantine")}
    second = app_client.post(URL, content=MIXED, headers=keyed)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert {t: count(engine, t) for t in before} == before
    [run] = rows(engine, "SELECT input, fingerprint, status FROM ingest_runs WHERE id = :i", i=first.json()["run_id"])
    assert run.input == "push:welfare-push:batch-0001" and run.status == "completed"
    assert run.fingerprint.startswith("body:")
    assert ("source:welfare-push", "push_replayed", str(first.json()["run_id"])) in trail(engine)


def test_the_same_idempotency_key_with_another_body_is_refused(app_client: TestClient, engine: Engine, token: str):
    keyed = headers(token, **{"Idempotency-Key": "k-1"})
    assert app_client.post(URL, content=ndjson(welfare_line(1)), headers=keyed).status_code == 200
    other = app_client.post(URL, content=ndjson(welfare_line(2)), headers=keyed)
    assert other.status_code == 422 and "different body" in other.json()["detail"]
    assert count(engine, "events") == 1 and count(engine, "ingest_runs") == 1
    bad_key = app_client.post(
        URL, content=ndjson(welfare_line(2)), headers=headers(token, **{"Idempotency-Key": "a b"})
    )
    assert bad_key.status_code == 422


def test_a_key_whose_first_request_is_still_running_is_a_conflict(
    app_client: TestClient, engine: Engine, settings: Settings, token: str
):
    profile = resolve_profile("demo-welfare").model_copy(update={"source": "welfare-push"})
    StreamIngest(Ingestor(engine, settings), profile, "push:welfare-push:slow-1")  # started, not finished
    response = app_client.post(
        URL, content=ndjson(welfare_line(1)), headers=headers(token, **{"Idempotency-Key": "slow-1"})
    )
    assert response.status_code == 409 and response.json()["error"] == "conflict"
    assert count(engine, "events") == 0


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer adt_not-the-token", "Basic d2VsZmFyZTpzZWNyZXQ=", "Bearer "],
    ids=["missing", "wrong", "basic", "empty"],
)
def test_a_push_without_the_sources_token_is_401(
    app_client: TestClient, engine: Engine, token: str, authorization: str | None
):
    sent = {"Content-Type": NDJSON} | ({"Authorization": authorization} if authorization else {})
    response = app_client.post(URL, content=ndjson(welfare_line(1)), headers=sent)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_required" and "push token" in response.json()["detail"]
    assert count(engine, "events") == 0 and count(engine, "ingest_runs") == 0
    assert ("source:welfare-push", "push_refused", "welfare-push") in trail(engine)


def test_another_sources_token_and_an_unknown_source_are_401_alike(
    app_client: TestClient, engine: Engine, token: str, add_source: Callable[..., str]
):
    other = add_source("tax-push", "demo-tax")
    refused = app_client.post(URL, content=ndjson(welfare_line(1)), headers=headers(other))
    unknown = app_client.post("/api/v1/ingest/no-such-source", content=ndjson(welfare_line(1)), headers=headers(token))
    assert refused.status_code == unknown.status_code == 401
    assert refused.json()["hint"] == unknown.json()["hint"], "the answer does not tell which sources exist"
    assert count(engine, "events") == 0


def test_the_token_says_which_municipality_pushes(
    app_client: TestClient, engine: Engine, settings: Settings, add_source: Callable[..., str]
):
    ours = add_source("shared")
    theirs = add_source("shared", municipality_code="131016")
    app_client.post("/api/v1/ingest/shared", content=ndjson(welfare_line(1)), headers=headers(theirs))
    app_client.post("/api/v1/ingest/shared", content=ndjson(welfare_line(1), welfare_line(2)), headers=headers(ours))
    stored = rows(engine, "SELECT municipality_code, count(*) AS n FROM events GROUP BY municipality_code ORDER BY 1")
    assert [(r.municipality_code, r.n) for r in stored] == [("131016", 1), (settings.municipality_code, 2)]


def test_empty_pushes_answer_zeros_and_store_nothing(app_client: TestClient, engine: Engine, token: str):
    for body in (b"", b"\n\n", b"\r\n"):
        response = app_client.post(URL, content=body, headers=headers(token))
        assert response.status_code == 200
        assert response.json() == {
            "run_id": None,
            "read": 0,
            "accepted": 0,
            "duplicate": 0,
            "quarantined": 0,
            "masked": 0,
            "quarantine_reasons": {},
        }
    assert count(engine, "ingest_runs") == 0


def test_a_body_over_the_size_limit_is_413_declared_or_streamed(app_client: TestClient, engine: Engine, token: str):
    limit = service.DEFAULT_PUSH_MAX_BODY_BYTES
    line = (welfare_line(1) + "\n").encode()
    big = line * (limit // len(line) + 1)
    declared = app_client.post(URL, content=big, headers=headers(token))
    assert declared.status_code == 413 and declared.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    streamed = app_client.post(URL, content=chunks(), headers=headers(token))
    assert streamed.status_code == 413
    at_the_limit = (b" " * 1023 + b"\n") * (limit // 1024)  # exactly the limit, blank lines only
    assert len(at_the_limit) == limit
    assert app_client.post(URL, content=at_the_limit, headers=headers(token)).status_code == 200
    assert count(engine, "ingest_runs") == 0


def test_more_lines_than_the_limit_is_413_and_nothing_is_stored(app_client: TestClient, engine: Engine, token: str):
    body = b"\n" * service.DEFAULT_PUSH_MAX_LINES + b"x"
    response = app_client.post(URL, content=body, headers=headers(token))
    assert response.status_code == 413 and f"{service.DEFAULT_PUSH_MAX_LINES:,}" in response.json()["detail"]
    assert count(engine, "ingest_runs") == 0


def test_a_form_upload_is_415_with_the_fix(app_client: TestClient, token: str):
    response = app_client.post(URL, data={"records": welfare_line(1)}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 415 and "--data-binary" in response.json()["hint"]


def test_a_cp932_csv_push_starts_with_its_header_and_a_line_that_does_not_decode_is_quarantined(
    app_client: TestClient, engine: Engine, add_source: Callable[..., str]
):
    token = add_source("tax-push", "demo-tax")
    good = "R08.02.03 09:15:22,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,"
    body = b"".join(
        [
            (TAX_HEADER + "\r\n").encode("cp932"),
            (good + "\r\n").encode("cp932"),
            "R08.02.03 09:16:00,u001,T1101-01,S1,11,K0101,06,0000012345,1,0,氏名=山田\r\n".encode("cp932"),
            b"R08.02.03 09:17:00,u001,\x82\r\n",  # a lead byte without its trail byte
            (good.replace("09:15:22", "09:18:00") + "\r\n").encode("cp932"),
        ]
    )
    sent = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    result = app_client.post("/api/v1/ingest/tax-push", content=body, headers=sent).json()
    assert (result["read"], result["accepted"], result["quarantined"]) == (4, 3, 1)
    assert result["quarantine_reasons"] == {"bad_encoding": 1}
    [bad] = rows(engine, "SELECT raw_ref, reason_code, run_id FROM quarantine")
    assert (bad.raw_ref, bad.reason_code, bad.run_id) == ("push:tax-push:4", "bad_encoding", result["run_id"])
    details = [r.detail for r in rows(engine, "SELECT detail FROM events WHERE detail IS NOT NULL")]
    assert details == ["氏名=山田"]
    again = app_client.post("/api/v1/ingest/tax-push", content=body, headers=sent).json()
    assert (again["accepted"], again["duplicate"], again["quarantined"]) == (0, 3, 1)
    assert count(engine, "quarantine") == 1

    headerless = app_client.post("/api/v1/ingest/tax-push", content=body.split(b"\r\n", 1)[1], headers=sent)
    assert headerless.status_code == 422 and "header" in headerless.json()["detail"]
    utf8 = app_client.post(
        "/api/v1/ingest/tax-push",
        content=(TAX_HEADER + "\n" + good.replace("09:15:22", "09:19:00") + ",\n").encode("utf-8"),
        headers=sent | {"Content-Type": "text/csv; charset=utf-8"},
    ).json()
    assert (utf8["read"], utf8["quarantined"], utf8["quarantine_reasons"]) == (1, 1, {"wrong_columns": 1})


def test_every_push_is_in_the_trail_under_the_source(app_client: TestClient, engine: Engine, token: str):
    run_id = app_client.post(URL, content=ndjson(welfare_line(1)), headers=headers(token)).json()["run_id"]
    [entry] = rows(engine, "SELECT actor, detail FROM trail WHERE action = 'ingest'")
    assert entry.actor == "source:welfare-push"
    assert json.loads(entry.detail)["run_id"] == run_id
