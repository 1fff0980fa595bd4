"""The generator: realistic, deterministic event logs with faults, written to a landing zone."""
