"""Tests of the collectors (sources/): streams, paginator, end to end against the simulator."""
