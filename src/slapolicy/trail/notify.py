"""Notifications after a run: a JSON POST to a webhook, and an e-mail over SMTP.

Both carry the run document that ``--json`` prints (``slapolicy.audit.summary``): statuses,
counts, the ladder stage, rewards and where the audit is. Neither carries a credential:
the webhook token and the SMTP password are read from the environment variables the
workspace file names, used to authenticate (an ``Authorization`` header, SMTP ``AUTH``)
and never written into the message. A notification that cannot be delivered is
reported, and changes nothing about the audit or the command's exit code.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from slapolicy.workspace import Email, Notify, Webhook


@dataclass(frozen=True)
class Delivery:
    channel: str
    target: str
    ok: bool
    detail: str = ""


def outcomes(document: dict[str, Any]) -> set[str]:
    """What happened in the run, in the words of ``[notify] on``."""
    found = {r["status"] for r in document.get("runs", [])}
    if document.get("error") is not None:
        found.add("run_error")
    return found


def notify(settings: Notify, document: dict[str, Any]) -> list[Delivery]:
    """Send the run document where the workspace says, if its outcome is one to notify."""
    if not outcomes(document) & set(settings.on):
        return []
    out: list[Delivery] = []
    if settings.webhook is not None:
        out.append(post_webhook(settings.webhook, document))
    if settings.email is not None:
        out.append(send_email(settings.email, document))
    return out


def post_webhook(hook: Webhook, document: dict[str, Any]) -> Delivery:
    target = _site(hook.url)
    body = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(hook.url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "slapolicy"})
    token = os.environ.get(hook.token_env) if hook.token_env else None
    if hook.token_env and not token:
        return Delivery("webhook", target, False, f"{hook.token_env} is not set")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout_seconds) as response:
            return Delivery("webhook", target, True, f"HTTP {response.status}")
    except urllib.error.HTTPError as e:
        return Delivery("webhook", target, False, f"HTTP {e.code}")
    except (urllib.error.URLError, OSError) as e:
        return Delivery("webhook", target, False, _reason(e))


def send_email(mail: Email, document: dict[str, Any]) -> Delivery:
    target = f"{mail.host}:{mail.port}"
    password = os.environ.get(mail.password_env) if mail.password_env else None
    if mail.username and not password:
        return Delivery("email", target, False,
                        f"{mail.password_env or 'password_env'} is not set for {mail.username}")
    message = EmailMessage()
    message["Subject"] = subject(document)
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    message.set_content(text(document))
    message.add_attachment(
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        maintype="application", subtype="json", filename="slapolicy-run.json")
    try:
        smtp_class = smtplib.SMTP_SSL if mail.ssl else smtplib.SMTP
        with smtp_class(mail.host, mail.port, timeout=mail.timeout_seconds) as smtp:
            if mail.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if mail.username and password:
                smtp.login(mail.username, password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as e:
        return Delivery("email", target, False, _reason(e))
    return Delivery("email", target, True, f"to {len(mail.to)} recipient(s)")


def subject(document: dict[str, Any]) -> str:
    runs = document.get("runs", [])
    if document.get("error") is not None:
        what = f"run failed (exit {document['exit_code']})"
    elif not runs:
        what = "nothing due"
    else:
        what = ", ".join(f"{r['period']} {r['status']}" for r in runs)
    policy = runs[0]["policy"] if runs else document.get("policy") or "slapolicy"
    return f"slapolicy {policy}: {what}"


def text(document: dict[str, Any]) -> str:
    lines = [subject(document), ""]
    for r in document.get("runs", []):
        stage = r["ladder"]["stage"]
        pool = r["reward"]["monthly_pool"]
        lines.append(f"{r['policy']} {r['period']}: {r['status']}, {r['open_breaches']} open "
                     f"breach(es); ladder stage {stage if stage else 'none'}; monthly pool "
                     f"{'earned' if pool.get('eligible') else 'not earned'}")
        for team, t in r["teams"].items():
            lines.append(f"  {team}: {t['open_breaches']} open breach(es)")
        lines.append(f"  audit: {r['audit']['html']}")
    if document.get("error") is not None:
        lines.append(f"error: {document['error']['message']}")
    lines.append("")
    lines.append("The run document (the same as --json) is attached.")
    return "\n".join(lines) + "\n"


def _site(url: str) -> str:
    """Scheme, host and port only: a webhook path often holds a token (chat webhooks)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    return f"{type(e).__name__}: {reason if reason is not None else e}"
