"""One module per ``python -m training`` command, each with ``configure`` and ``run``."""
