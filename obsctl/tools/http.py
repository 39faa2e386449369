"""A small JSON-over-HTTP client for the platform's own APIs (Prometheus, Alertmanager,
Grafana, the sink, the app). One place maps transport and status failures to ToolError."""

from __future__ import annotations

from typing import Any

from obsctl.errors import ToolError


class HttpApi:
    def __init__(self, base_url: str, name: str, timeout: float = 5.0, auth: tuple[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.auth = auth

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        url = f"{self.base_url}{path}"
        try:
            resp = httpx.request(method, url, timeout=self.timeout, auth=self.auth, **kwargs)
        except httpx.HTTPError as exc:
            raise ToolError(
                f"{self.name} at {self.base_url} is not answering: {exc.__class__.__name__}: {exc}"
            ) from None
        if resp.status_code >= 400:
            raise ToolError(f"{self.name} answered {resp.status_code} to {method} {path}: {resp.text[:200].strip()}")
        return resp

    def get_text(self, path: str, **params: Any) -> str:
        return self.request("GET", path, params=params or None).text

    def get_json(self, path: str, **params: Any) -> Any:
        resp = self.request("GET", path, params=params or None)
        try:
            return resp.json()
        except ValueError:
            raise ToolError(f"{self.name} sent non-JSON for {path}: {resp.text[:120]!r}") from None

    def ok(self, path: str) -> bool:
        """True when GET path answers 2xx; False on any failure (for readiness polls)."""
        try:
            self.request("GET", path)
        except ToolError:
            return False
        return True
