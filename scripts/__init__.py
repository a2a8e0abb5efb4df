"""The ``gridmap`` command line and operator scripts."""
