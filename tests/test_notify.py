"""Notifications after a run, against servers started here on loopback: a webhook
(``http.server``) and an SMTP server (``aiosmtpd``, with AUTH). A notification never
carries a credential, and one that cannot be delivered changes no exit code."""

from __future__ import annotations

import email
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from slapolicy.errors import FAIL_ON, outcome_exit_code
from slapolicy.trail.notify import notify
from slapolicy.workspace import Email, Notify, Webhook

SLAPOLICY = Path(sys.executable).with_name("slapolicy")
TOKEN = "tok-7f3a9c-webhook-secret"
SMTP_PASSWORD = "pw-51e2b8-smtp-secret"
PG_PASSWORD = "pg-90d4c1-db-secret"
SECRETS = (TOKEN, SMTP_PASSWORD, PG_PASSWORD)


# --- loopback servers ---------------------------------------------------------------------


class Hook:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body})
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sla"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, list[str]]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.original_content, list(envelope.rcpt_tos)))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("auditor", SMTP_PASSWORD))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=box.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield box, port
    controller.stop()


def _document(status: str = "fail") -> dict[str, Any]:
    return {"format": "slapolicy-run/1", "command": "audit", "exit_code": 1, "fail_on": "fail",
            "policy": "company-a", "error": None, "runs": [{
                "policy": "company-a", "period": "2020-02", "status": status,
                "open_breaches": 53, "teams": {"sales": {"open_breaches": 28}},
                "ladder": {"stage": 2}, "reward": {"monthly_pool": {"eligible": False}},
                "audit": {"html": "audits/company-a/2020-02/audit.html"}}]}


def _mail(box: Inbox) -> Message:
    assert len(box.messages) == 1
    return email.message_from_bytes(box.messages[0][0])


# --- the channels -------------------------------------------------------------------------


def test_webhook_posts_the_document_with_the_token_only_in_the_header(
        hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAPOLICY_WEBHOOK_TOKEN", TOKEN)
    settings = Notify(on=("fail",), webhook=Webhook(hook.url, "SLAPOLICY_WEBHOOK_TOKEN"))
    [delivery] = notify(settings, _document())
    assert delivery.ok and delivery.detail == "HTTP 200"
    assert delivery.target == hook.url.rsplit("/hooks", 1)[0]  # the path is never shown
    [request] = hook.requests
    assert request["path"] == "/hooks/sla"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request["body"]) == _document()
    assert TOKEN.encode() not in request["body"]


def test_email_logs_in_and_sends_the_summary_without_the_password(
        inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch) -> None:
    box, port = inbox
    monkeypatch.setenv("SLAPOLICY_SMTP_PASSWORD", SMTP_PASSWORD)
    settings = Notify(on=("fail",), email=Email(
        host="127.0.0.1", port=port, sender="sla@example.com",
        to=("revops@example.com", "cso@example.com"), username="auditor",
        password_env="SLAPOLICY_SMTP_PASSWORD"))
    [delivery] = notify(settings, _document())
    assert delivery.ok, delivery
    assert box.logins == [("auditor", SMTP_PASSWORD)]
    message = _mail(box)
    assert box.messages[0][1] == ["revops@example.com", "cso@example.com"]
    assert message["Subject"] == "slapolicy company-a: 2020-02 fail"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in message.walk()
             if not p.is_multipart()}
    assert b"2020-02: fail, 53 open breach(es); ladder stage 2" in parts["text/plain"]
    assert json.loads(parts["application/json"]) == _document()
    assert SMTP_PASSWORD.encode() not in box.messages[0][0]


def test_only_the_outcomes_asked_for_notify(hook: Hook) -> None:
    settings = Notify(on=("error", "run_error"), webhook=Webhook(hook.url))
    assert notify(settings, _document("fail")) == []
    assert notify(settings, _document("pass")) == []
    [delivery] = notify(settings, _document("error"))
    assert delivery.ok
    assert len(hook.requests) == 1


def test_fail_on_mapping() -> None:
    table = {(s, f): outcome_exit_code(s, f) for s in ("pass", "warn", "not_measured", "fail",
                                                      "error") for f in FAIL_ON}
    assert [k for k, v in table.items() if v == 1] == [
        ("fail", "fail"), ("error", "fail"), ("error", "error")]


# --- through the command ------------------------------------------------------------------


def _workspace(folder: Path, hook_url: str, smtp_port: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slapolicy.toml").write_text(f"""
policy = "policies/company-a.yaml"

[data]
source = "data/demo.duckdb"

[notify]
on = ["fail", "error", "run_error"]

[notify.webhook]
url = "{hook_url}"
token_env = "SLAPOLICY_WEBHOOK_TOKEN"

[notify.email]
host = "127.0.0.1"
port = {smtp_port}
from = "sla@example.com"
to = ["revops@example.com"]
username = "auditor"
password_env = "SLAPOLICY_SMTP_PASSWORD"
""")
    return folder


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "SLAPOLICY_WORKSPACE"},
           "SLAPOLICY_WEBHOOK_TOKEN": TOKEN, "SLAPOLICY_SMTP_PASSWORD": SMTP_PASSWORD,
           "SLAPOLICY_PG_PASSWORD": PG_PASSWORD}
    return subprocess.run([str(SLAPOLICY), *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def test_a_run_error_notifies_and_keeps_its_exit_code(tmp_path: Path, hook: Hook,
                                                      inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    ws = _workspace(tmp_path / "ws", hook.url, port)
    result = _run("audit", "--period", "2020-01", "--json", cwd=ws)  # no policy file there
    assert result.returncode == 2, result.stderr
    doc = json.loads(result.stdout)  # stdout holds the document and nothing else
    assert doc["exit_code"] == 2 and doc["runs"] == []
    assert doc["error"]["type"] == "PolicyError" and doc["error"]["exit_code"] == 2
    [request] = hook.requests
    assert json.loads(request["body"]) == doc
    assert "run failed (exit 2)" in _mail(box)["Subject"]
    for secret in SECRETS:
        assert secret.encode() not in request["body"]
        assert secret.encode() not in box.messages[0][0]
    assert "notification webhook" in result.stderr and "sent" in result.stderr


def test_an_undeliverable_notification_changes_no_exit_code(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/hook"  # nothing listens there
    ws = _workspace(tmp_path / "ws", dead, _free_port())
    result = _run("audit", "--period", "2020-01", cwd=ws)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "notification webhook http://127.0.0.1:" in result.stderr
    assert "FAILED" in result.stderr
    assert "notification email 127.0.0.1:" in result.stderr
    assert "/hook" not in result.stderr.split("notification webhook", 1)[1].splitlines()[0]


@pytest.mark.slow
def test_an_audit_with_json_fail_on_never_and_both_notifications(
        tmp_path: Path, hook: Hook, inbox: tuple[Inbox, int]) -> None:
    from slapolicy.demo.generate import DemoConfig, generate, write_duckdb
    from slapolicy.workspace import create_workspace

    box, port = inbox
    ws = tmp_path / "ws"
    create_workspace(ws)
    _workspace(ws, hook.url, port)
    write_duckdb(generate(DemoConfig(months=1, leads_per_month=200, seed=5)),
                 ws / "data" / "demo.duckdb")
    result = _run("audit", "--period", "2020-01", "--json", "--fail-on", "never",
                  cwd=ws / "notebooks")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    [run] = doc["runs"]
    results = json.loads((ws / "audits" / "company-a" / "2020-01" / "results.json").read_text())
    assert run["status"] == results["summary"]["status"] == "fail"  # found, yet exit 0
    assert run["open_breaches"] == results["summary"]["breaches"]
    assert run["ladder"]["stage"] == results["standing"]["ladder"]["stage"]
    assert run["reward"]["monthly_pool"]["eligible"] == \
        results["standing"]["rewards"]["monthly_pool"]["eligible"]
    assert {c: v["status"] for c, v in run["clauses"].items()} == \
        {c["clause_id"]: c["status"] for c in results["clauses"]}
    assert sum(t["open_breaches"] for t in run["teams"].values()) == run["open_breaches"]
    assert run["audit"]["folder"] == str(ws / "audits" / "company-a" / "2020-01")
    [request] = hook.requests
    assert json.loads(request["body"]) == doc
    attachment = next(p for p in _mail(box).walk()
                      if p.get_content_type() == "application/json")
    assert json.loads(attachment.get_payload(decode=True)) == doc
    for secret in SECRETS:
        assert secret.encode() not in request["body"]
        assert secret.encode() not in box.messages[0][0]
    # The same audit under the default --fail-on exits 1 (an unsigned audit is replaced).
    again = _run("audit", "--period", "2020-01", "--no-notify", cwd=ws)
    assert again.returncode == 1, again.stderr
    assert len(hook.requests) == 1


def test_run_due_fail_on_decides_only_between_0_and_1() -> None:
    from slapolicy.trail.scheduler import PeriodRun, RunDueReport

    failing = RunDueReport(due=["2020-01"], runs=[PeriodRun("2020-01", 1, "fail", 3)])
    assert [failing.exit_code_for(f) for f in ("fail", "error", "never")] == [1, 0, 0]
    errored = RunDueReport(due=["2020-01"], runs=[PeriodRun("2020-01", 1, "error", 0)])
    assert [errored.exit_code_for(f) for f in ("fail", "error", "never")] == [1, 1, 0]
    broken = RunDueReport(due=["2020-01", "2020-02"], runs=[
        PeriodRun("2020-01", 1, "fail", 3), PeriodRun("2020-02", 3, error="cell 4 failed")])
    assert [broken.exit_code_for(f) for f in ("fail", "error", "never")] == [3, 3, 3]


def test_run_due_json_when_nothing_is_due(tmp_path: Path, hook: Hook) -> None:
    from tests.conftest import ROOT

    (tmp_path / "data").mkdir()
    (tmp_path / "slapolicy.toml").write_text(
        f'policy = "{ROOT / "policies" / "company-a.yaml"}"\n[data]\nsource = "data"\n'
        f'[notify]\non = ["pass", "fail", "error", "run_error"]\n'
        f'[notify.webhook]\nurl = "{hook.url}"\n')
    result = _run("run-due", "--now", "2020-01-20T00:00:00Z", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["command"] == "run-due" and doc["due"] == [] and doc["runs"] == []
    assert doc["exit_code"] == 0 and doc["error"] is None
    assert "nothing due" in result.stderr
    assert hook.requests == []  # nothing happened: nothing to notify
