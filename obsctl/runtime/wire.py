"""obsctl's local receivers: one process that speaks each Alertmanager receiver's wire format and
records what arrives, so a drill can prove delivery for every receiver type.

HTTP (one port, by path; each answers as the real service does, and rejects what it would):
  POST /slack/...               Slack incoming webhook: a JSON message with `attachments` or `text`; "ok"
  POST /pagerduty/v2/enqueue    PagerDuty Events API v2: known routing_key, event_action trigger |
                                acknowledge | resolve, dedup_key, payload summary/source/severity; 202
  POST /opsgenie/v2/alerts      Opsgenie Alert API: `Authorization: GenieKey <known key>`, a message;
  POST /opsgenie/v2/alerts/<alias>/close?identifierType=alias            202 "Request will be processed"
  POST (any other path)         Alertmanager's generic webhook JSON, recorded as it came
  GET  /notifications[?kind=K]  every record (what drills read); GET /healthz
SMTP (its own port, with --smtp-port): aiosmtpd with STARTTLS required before AUTH (PLAIN)
and AUTH (PLAIN) required before MAIL, on a certificate obsctl generates at `up`.

Every record is one JSON line: received_at, kind, path, status (firing | resolved), summary
(the title Alertmanager wrote), key (what ties a resolve to its page), target (the routing key,
channel, recipient or receiver: which receiver it was for; secrets are never recorded) and the
payload. The file survives restarts, like the webhook sink's.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import re
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
_OPSGENIE_CLOSE = re.compile(r"^/opsgenie/v2/alerts/([^/]+)/close$")


class Recorder:
    """Appends records to the JSON-lines file; one lock for the HTTP and SMTP threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def add(self, kind: str, path: str, status: str, summary: str, key: str, target: str, payload: Any) -> None:
        entry = {
            "received_at": time.time(),
            "kind": kind,
            "path": path,
            "status": status,
            "summary": summary,
            "key": key,
            "target": target,
            "payload": payload,
        }
        with self.lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def read(self, kind: str | None) -> list[dict[str, Any]]:
        with self.lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        return [r for r in records if kind is None or r.get("kind", "webhook") == kind]


def status_of_title(title: str) -> str:
    """Alertmanager's default titles start [FIRING:n] or [RESOLVED]."""
    return "resolved" if title.startswith("[RESOLVED]") else "firing" if title.startswith("[FIRING") else ""


class Rejected(Exception):
    def __init__(self, code: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.code = code
        self.body = body


def slack(rec: Recorder, path: str, msg: Any) -> tuple[int, bytes, str]:
    if not isinstance(msg, dict) or not (msg.get("text") or msg.get("attachments") or msg.get("blocks")):
        return 400, b"no_text", "text/plain"  # what Slack answers to a message without content
    attachments = msg.get("attachments") or [{}]
    title = str(attachments[0].get("title") or msg.get("text") or "")
    rec.add("slack", path, status_of_title(title), title, title.split("]", 1)[-1].strip(), msg.get("channel", ""), msg)
    return 200, b"ok", "text/plain"


def pagerduty(rec: Recorder, path: str, msg: Any, keys: set[str]) -> dict[str, Any]:
    errors = []
    if not isinstance(msg, dict):
        raise Rejected(400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]})
    if msg.get("routing_key") not in keys:
        errors.append("Invalid routing key")
    action = msg.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge or resolve)")
    dedup = msg.get("dedup_key") or ""
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is missing and is required for acknowledge and resolve")
    body = msg.get("payload") or {}
    if action == "trigger":
        for field in ("summary", "source"):
            if not body.get(field):
                errors.append(f"'payload.{field}' is missing or blank")
        if body.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of critical, error, warning or info)")
    if errors:
        raise Rejected(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
    dedup = dedup or uuid.uuid4().hex
    status = {"trigger": "firing", "resolve": "resolved"}.get(str(action), "acknowledged")
    safe = {k: v for k, v in msg.items() if k != "routing_key"}  # the key is a secret: never recorded
    rec.add("pagerduty", path, status, str(body.get("summary", "")), dedup, _fingerprint(msg["routing_key"]), safe)
    return {"status": "success", "message": "Event processed", "dedup_key": dedup}


def opsgenie(rec: Recorder, url: str, msg: Any, auth: str, keys: set[str]) -> dict[str, Any]:
    parts = urlsplit(url)
    key = auth.removeprefix("GenieKey ").strip() if auth.startswith("GenieKey ") else ""
    if key not in keys:
        raise Rejected(401, {"message": "Could not authenticate", "took": 0.0, "requestId": uuid.uuid4().hex})
    if not isinstance(msg, dict):
        raise Rejected(422, {"message": "Request body is not processable", "took": 0.0})
    close = _OPSGENIE_CLOSE.match(parts.path)
    if close:
        if parse_qs(parts.query).get("identifierType", ["id"])[0] != "alias":
            raise Rejected(422, {"message": "identifierType must be alias for an alias", "took": 0.0})
        rec.add("opsgenie", parts.path, "resolved", str(msg.get("note", "")), close.group(1), _fingerprint(key), msg)
    elif parts.path.rstrip("/") == "/opsgenie/v2/alerts":
        message = msg.get("message")
        if not message or len(str(message)) > 130:
            raise Rejected(422, {"message": "Message can not be empty or longer than 130 characters", "took": 0.0})
        rec.add("opsgenie", parts.path, "firing", str(message), str(msg.get("alias", "")), _fingerprint(key), msg)
    else:
        raise Rejected(404, {"message": "Not found", "took": 0.0})
    return {"result": "Request will be processed", "took": 0.01, "requestId": uuid.uuid4().hex}


def _fingerprint(secret: str) -> str:
    """Which key a request carried, without recording the key: its first 4 characters."""
    return secret[:4] + "…"


def serve_http(host: str, port: int, rec: Recorder, pd_keys: set[str], og_keys: set[str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # quiet: the file is the log
            pass

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, body: dict[str, Any]) -> None:
            self._send(code, json.dumps(body).encode())

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif parts.path == "/notifications":
                kind = parse_qs(parts.query).get("kind", [None])[0]
                self._send(200, json.dumps(rec.read(kind)).encode())
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                msg = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": "body is not JSON"})
                return
            path = urlsplit(self.path).path
            try:
                if path.startswith("/slack/"):
                    self._send(*slack(rec, path, msg))
                elif path.startswith("/pagerduty/"):
                    if path != "/pagerduty/v2/enqueue":
                        raise Rejected(404, {"status": "not found", "message": "use /v2/enqueue"})
                    self._json(202, pagerduty(rec, path, msg, pd_keys))
                elif path.startswith("/opsgenie/"):
                    self._json(202, opsgenie(rec, self.path, msg, self.headers.get("Authorization", ""), og_keys))
                else:  # Alertmanager's generic webhook: the payload as it came, as obsctl always recorded it
                    status = str(msg.get("status", "")) if isinstance(msg, dict) else ""
                    target = str(msg.get("receiver", "")) if isinstance(msg, dict) else ""
                    key = str(msg.get("groupKey", "")) if isinstance(msg, dict) else ""
                    rec.add("webhook", path, status, "", key, target, msg)
                    self._json(200, {"status": "recorded"})
            except Rejected as exc:
                self._json(exc.code, exc.body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_smtp(host: str, port: int, rec: Recorder, users: dict[str, str], cert: Path, key: Path) -> Any:
    """A real SMTP server: STARTTLS required, then AUTH (PLAIN), then the message."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = login in users and users[login] == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)  # handled=False: 535 on failure

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
            subject = str(msg.get("Subject", ""))
            body = msg.get_body(preferencelist=("plain", "html"))
            payload = {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": subject,
                "tls": session.ssl is not None,
                "auth_user": session.auth_data if session.authenticated else None,
                "content_type": msg.get_content_type(),
                "body": body.get_content()[:20000] if body is not None else "",
            }
            key = subject.split("]", 1)[-1].strip()
            rec.add("email", "smtp", status_of_title(subject), subject, key, ",".join(envelope.rcpt_tos), payload)
            return "250 Message accepted for delivery"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    controller = Controller(
        Handler(),
        hostname=host,
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
        # aiosmtpd's LOGIN challenges "User Name"; Go's (Alertmanager's) LOGIN client expects the
        # customary "Username:" and gives up, so only PLAIN (RFC 4616) is offered
        auth_exclude_mechanism=["LOGIN"],
        ready_timeout=10.0,
        server_hostname=host,
    )
    controller.start()
    return controller


def _pairs(text: str) -> dict[str, str]:
    """user:password,user2:password2 (the local sink's own accounts; not secrets)."""
    return dict(item.split(":", 1) for item in text.split(",") if ":" in item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="HTTP port (webhook, Slack, PagerDuty, Opsgenie)")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--smtp-port", type=int, default=None)
    parser.add_argument("--tls-cert", type=Path, default=None)
    parser.add_argument("--tls-key", type=Path, default=None)
    args = parser.parse_args()
    # the keys and accounts it accepts come from the environment, never the command line (ps shows it)
    pd_keys = {k for k in os.environ.get("OBSCTL_WIRE_PAGERDUTY_KEYS", "").split(",") if k}
    og_keys = {k for k in os.environ.get("OBSCTL_WIRE_OPSGENIE_KEYS", "").split(",") if k}
    users = _pairs(os.environ.get("OBSCTL_WIRE_SMTP_USERS", ""))
    rec = Recorder(args.record)
    if args.smtp_port:
        if not (args.tls_cert and args.tls_key):
            parser.error("--smtp-port needs --tls-cert and --tls-key (STARTTLS is required)")
        serve_smtp(args.host, args.smtp_port, rec, users, args.tls_cert, args.tls_key)
    serve_http(args.host, args.port, rec, pd_keys, og_keys).serve_forever()


if __name__ == "__main__":
    main()
