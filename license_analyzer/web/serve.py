"""`serve`: check [web], open the store, run the app under uvicorn until interrupted."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn

from license_analyzer.config import Config
from license_analyzer.errors import ConfigError
from license_analyzer.store.db import Store

log = logging.getLogger(__name__)
MIN_SESSION_SECRET = 32


def check_web(config: Config) -> None:
    """Every [web] key `serve` needs, or one sentence naming the first that is missing."""
    web = config.web
    needed = [("base_url", web.base_url), ("tenant_id", web.tenant_id),
              ("client_id", web.client_id), ("session_secret", web.session_secret)]
    for key, value in needed:
        if not value:
            raise ConfigError(f"[web] {key} is not set; `serve` needs the web app's own Entra"
                              " app registration (README: \"The review web app\").")
    if web.client_secret is None and web.certificate_path is None:
        raise ConfigError("[web] needs client_secret or certificate_path: the credential of the"
                          " web app's registration.")
    assert web.session_secret is not None
    if len(web.session_secret.get_secret_value()) < MIN_SESSION_SECRET:
        raise ConfigError(f"[web] session_secret is shorter than {MIN_SESSION_SECRET}"
                          " characters; make one with: python -c \"import secrets;"
                          " print(secrets.token_urlsafe(32))\".")
    if not (web.viewers or web.reviewers or web.admins or web.route_to_manager):
        raise ConfigError("[web] names no viewers, reviewers or admins, so nobody could use the"
                          " app; list the Entra group object ids (or app role values).")


def serve(config: Config, store: Store, host: str, port: int,
          on_ready: Callable[[str], object] | None = None) -> None:
    from license_analyzer.web.app import create_app
    from license_analyzer.web.signin import SignIn

    check_web(config)
    base = config.source_path.parent if config.source_path else None
    sign_in = SignIn(config.web, base)
    app = create_app(config, store, sign_in)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False,
        # behind a reverse proxy: trust X-Forwarded-* from the proxy's address only
        proxy_headers=True, server_header=False, date_header=True))
    if on_ready is not None:
        on_ready(f"{config.web.base_url} (listening on http://{host}:{port})")
    try:
        server.run()
    finally:
        sign_in.close()
