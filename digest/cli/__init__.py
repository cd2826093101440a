"""The `digest` command: thin click commands that parse arguments, call the packages below, and print
(`report`); errors become one line and an exit status (`common`).
"""

from digest.cli.main import main

__all__ = ["main"]
