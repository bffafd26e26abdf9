"""Claude Code's statusLine command: print router-ext's status line for the JSON on stdin.

    python -S /abs/path/hooks/router_ext_statusline.py [--server URL] [--transcripts DIR]

The work is in router_ext/commands/statusline.py; this file only puts the package on the path
(`-S` skips site-packages, which costs a fresh interpreter tens of ms).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from router_ext.commands.statusline import main

status = main(sys.argv[1:])
sys.stdout.flush()
os._exit(status)  # skipping the interpreter's teardown saves a few ms per line
