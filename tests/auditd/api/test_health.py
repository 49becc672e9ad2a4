from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_engine


def test_healthz_reports_the_store_and_its_migration(engine: Engine, settings: Settings, backend: str):
    client = TestClient(create_app(settings, engine))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == backend and body["migration"] == migrate.head_revision()


def test_healthz_is_503_with_the_fix_when_the_store_is_not_migrated(tmp_path):
    settings = Settings(env="test", data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    client = TestClient(create_app(settings, make_engine(settings.db_url)))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "auditd db upgrade" in response.json()["detail"]


def test_api_errors_are_json_with_a_status(engine: Engine, settings: Settings):
    client = TestClient(create_app(settings, engine))
    response = client.get("/", headers={"accept": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_required"
