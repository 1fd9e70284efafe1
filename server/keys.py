"""``python -m server.keys new --id NAME --role decide --file keys.json``: API keys.

See :mod:`server.security.keys_cli` for the commands.
"""

from __future__ import annotations

import sys

from server.security.keys_cli import main

if __name__ == "__main__":
    sys.exit(main())
