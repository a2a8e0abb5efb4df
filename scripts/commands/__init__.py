"""Sub-commands of ``gridmap``: each module defines ``register(subparsers)``."""
