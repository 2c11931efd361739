"""One module per ``mrig`` subcommand, each with ``register(subparsers)`` that adds its parser
and sets ``func`` to a callable taking the parsed args and returning the exit code."""
