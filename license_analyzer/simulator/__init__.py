"""A simulated Microsoft cloud (Entra ID, Graph, Dataverse, F&O, Power Platform admin).

It speaks the real wire formats with Microsoft's quirks, over HTTPS on loopback, and imports
nothing from the rest of license_analyzer so it cannot agree with the client by accident.
"""

from .cli import serve_forever
from .config import write_config_file
from .options import SimulatorOptions, Traps
from .simulator import Simulator

__all__ = ["Simulator", "SimulatorOptions", "Traps", "serve_forever", "write_config_file"]
