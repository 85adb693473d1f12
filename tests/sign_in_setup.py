"""Delegated and managed-identity profiles pointing at a simulator, and a way to sign one in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from license_analyzer.config import Config
from license_analyzer.simulator import Simulator, write_config_file
from license_analyzer.sources.http import connect
from license_analyzer.sources.http.delegated import DelegatedTokenProvider
from license_analyzer.store.open import open_configured_store
from license_analyzer.store.sign_in import stored_sign_in

KEY_VAR = "LA_TEST_TOKEN_KEY"
KEY = "test-token-cache-key-0123456789"
CODE = re.compile(r"enter the code (\S+) to authenticate")


def write_profile(sim: Simulator, path: Path, auth: str, *, key: str | None = None,
                  extra: str = "", reclamation: bool = False) -> Path:
    """The simulator's config, turned into a delegated or managed-identity profile."""
    write_config_file(sim.info, path)
    # edit the profile only: [web] above it has keys of the same names
    head, profiles, text = path.read_text(encoding="utf-8").partition("[[profiles]]")
    text = re.sub(r"(?m)^client_secret = .*$", f'auth = "{auth}"', text)
    if auth == "delegated":
        text = text.replace(f'auth = "{auth}"',
                            f'auth = "{auth}"\ntoken_cache_key = {json.dumps(key or KEY)}')
    if auth == "managed_identity":
        text = re.sub(r"(?m)^client_id = .*\n", "", text)
    text = head + profiles + text + extra
    text += f'\n[reports]\ndir = "{path.parent / "reports"}"\n'
    if reclamation:
        text += "\n[reclamation]\nenabled = true\n"
    path.write_text(text, encoding="utf-8")
    return path


def sign_in(sim: Simulator, config: Config, upn: str) -> str:
    """`login`'s device-code flow in-process, the code approved as `upn` when it is shown."""
    profile = config.profiles[0]
    base = config.source_path.parent if config.source_path else None
    with connect(profile, base_dir=base,
                 sign_in=stored_sign_in(open_configured_store(config), profile)) as conn:
        tokens = conn.tokens
        assert isinstance(tokens, DelegatedTokenProvider)

        def approve(message: str) -> None:
            match = CODE.search(message)
            assert match, message
            sim.approve_device_code(match.group(1), upn)

        return tokens.login(approve)


def cli(config: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real entry point, in its own process."""
    return subprocess.run([sys.executable, "-m", "license_analyzer", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=timeout, env=env)


class LoginProcess:
    """`license-analyzer login` in its own process; the person approves the code it prints on
    the verification page, as they would in a browser."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "license_analyzer", "--config", str(config), "login", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._shown = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if CODE.search(line):
                self._shown.set()
        self._shown.set()

    def code(self, timeout: float = 120) -> str:
        assert self._shown.wait(timeout), "login printed no code"
        match = next((CODE.search(line) for line in self.lines if CODE.search(line)), None)
        assert match, "".join(self.lines) + self.stderr()
        return match.group(1)

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None \
            else ""

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        assert self.proc.stderr is not None
        return code, "".join(self.lines), self.proc.stderr.read()

    def __enter__(self) -> LoginProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def approve_on_page(sim: Simulator, code: str, upn: str) -> None:
    """What the person does in a browser: open the verification page, enter code and name."""
    import ssl

    import httpx

    ctx = ssl.create_default_context(cafile=sim.info["ca_bundle"])
    with httpx.Client(verify=ctx) as http:
        page = f"{sim.info['authority_host']}/devicelogin"
        answer = http.post(page, data={"otc": code, "login": upn})
        assert answer.status_code == 200, answer.text


def files_under(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())
