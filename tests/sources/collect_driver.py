"""A small driver the kill test runs as a real subprocess: one `collect` of every profile.

usage: python collect_driver.py CONFIG STORE_URL DATA_DIR NOW_ISO
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from license_analyzer.config import load_config
from license_analyzer.sources.collect import collect
from license_analyzer.store.db import open_store
from tests.sources.fast import TUNING, fast_clients


def main(argv: list[str]) -> int:
    config_path, url, data_dir, now = argv
    config = load_config(Path(config_path))
    store = open_store(url, base=Path(config_path).parent, data_dir=Path(data_dir))
    outcome = collect(config, store, config.profiles, now=datetime.fromisoformat(now),
                      progress=False, tuning=TUNING, clients=fast_clients(config))
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
