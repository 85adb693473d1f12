"""Blocking entry point behind `license-analyzer simulate`."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .config import write_config_file
from .options import SimulatorOptions
from .simulator import Simulator


def serve_forever(opts: SimulatorOptions, write_config: Path | None = None) -> None:
    """Serves until SIGINT/SIGTERM; prints one JSON line with the endpoints when ready."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sim = Simulator(opts).start()
    try:
        info = sim.info
        if write_config is not None:
            write_config_file(info, write_config)
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
