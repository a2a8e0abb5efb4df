"""Pure geometry and algorithms for gridmap: no I/O, no database, no web."""
