"""A local GitHub, model and package index: what `aios eval` runs the agents against, and what
the tests stand on."""
