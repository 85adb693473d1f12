"""`python -m license_analyzer.simulator [users]` serves a simulator for manual poking."""

import sys

from . import SimulatorOptions, serve_forever

if __name__ == "__main__":
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    serve_forever(SimulatorOptions(users=users), None)
