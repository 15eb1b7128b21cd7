"""The engine: lab inventory, stations, flows, evidence, the pytest plugin, the CLI."""
