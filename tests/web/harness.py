"""A review app serving a store filled by the real job against a small simulated tenant, signed
in through the simulator's Entra ID: what the web tests drive, by httpx and by Chromium."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import uvicorn

from license_analyzer.config import Config, load_config
from license_analyzer.run import job
from license_analyzer.simulator import Simulator, write_config_file
from license_analyzer.store.db import Store
from license_analyzer.store.open import open_configured_store
from license_analyzer.web.app import create_app
from license_analyzer.web.signin import SignIn
from tests.sources.simhelp import NOW, options

AS_OF = date(2026, 11, 21)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ReviewApp:
    sim: Simulator
    config: Config
    store: Store
    base_url: str
    config_path: Path
    clients: list[httpx.Client] = field(default_factory=list)  # closed when it stops

    @property
    def people(self) -> dict[str, str]:
        people: dict[str, str] = self.sim.info["web_people"]
        return people


def build(sim: Simulator, folder: Path, store_url: str | None = None) -> tuple[Config, Path]:
    """A config for the simulated tenant with [web] on a free port, and the job run once."""
    port = free_port()
    path = folder / "license-analyzer.toml"
    write_config_file(sim.info, path, web_base_url=f"http://127.0.0.1:{port}",
                      route_to_manager=True)
    text = path.read_text(encoding="utf-8").replace(
        'url = "sqlite:///license-analyzer.db"', f'url = "{store_url or "sqlite:///store.db"}"')
    path.write_text(text + "\n", encoding="utf-8")
    config = load_config(path)
    config = config.model_copy(update={"profiles": [
        p.model_copy(update={"signin_requests_per_10s": 1000}) for p in config.profiles]})
    result = job(config, as_of=AS_OF, now=NOW, out=folder / "reports")
    assert result.report_path is not None
    return config, path


@contextmanager
def serving(config: Config, store: Store) -> Iterator[str]:
    """The app under uvicorn on a thread, as `serve` runs it; yields its base URL."""
    assert config.web.base_url
    port = int(urlsplit(config.web.base_url).port or 80)
    sign_in = SignIn(config.web, config.source_path.parent if config.source_path else None)
    server = uvicorn.Server(uvicorn.Config(create_app(config, store, sign_in), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the review app did not start"
        time.sleep(0.02)
    try:
        yield config.web.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sign_in.close()


@contextmanager
def review_app(folder: Path, store_url: str | None = None) -> Iterator[ReviewApp]:
    with Simulator(options(users=80, token_lifetime_s=360_000,
                           signin_requests_per_10s=1000)) as sim:
        config, path = build(sim, folder, store_url)
        store = open_configured_store(config)
        try:
            with serving(config, store) as base_url:
                app = ReviewApp(sim, config, store, base_url, path)
                try:
                    yield app
                finally:
                    for client in app.clients:
                        client.close()
        finally:
            store.dispose()


def sign_in(app: ReviewApp, upn: str) -> httpx.Client:
    """An httpx client signed in as `upn`: the same requests a browser makes, the sign-in page
    answered by posting the person picked."""
    verify = ssl.create_default_context(cafile=str(app.sim.info["ca_bundle"]))
    client = httpx.Client(base_url=app.base_url, verify=verify, timeout=30.0)
    app.clients.append(client)
    response = client.get("/auth/sign-in")
    assert response.status_code == 303, response.text
    authorize = response.headers["location"]
    page = client.get(authorize)
    assert page.status_code == 200, page.text
    form = dict(parse_qsl(urlsplit(authorize).query))
    back = client.post(authorize, data={**form, "login": upn})
    assert back.status_code == 302, back.text
    done = client.get(back.headers["location"])
    assert done.status_code == 303, done.text
    assert urljoin(app.base_url, done.headers["location"]).startswith(app.base_url)
    return client


def form_fields(html: str, form_id: str | None = None) -> dict[str, Any]:
    """The hidden inputs of a page (csrf token, shown-<id> values)."""
    import re

    fields: dict[str, Any] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        fields.setdefault(name, value.replace("&amp;", "&"))
    return fields
