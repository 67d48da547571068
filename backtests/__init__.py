"""Config, runner and command line: wires data, strategies and reports together."""
