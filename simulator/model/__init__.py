"""What is simulated, declared once: the scenario schema, the parameter registry, uncertain inputs.

- ``schema``: every key of a scenario file (pydantic models: type, default, units, range, meaning);
- ``scenario_file``: reading a TOML file, ``--set`` overrides, one-line error messages;
- ``parameters``: the parameter vector's records, slots and dotted paths, derived from the schema;
- ``uncertain``: keys given as distributions, their copula and validation;
- ``quantities``: what the model reports per path (recorded variables, outcome classes).

May import: :mod:`simulator.errors` only.  Nothing here knows how paths are sampled.
"""
