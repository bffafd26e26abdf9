"""The Claude Code command hook: read the hook JSON on stdin and report it to router-ext.

    python -S /abs/path/hooks/router_ext_hook.py --source-app NAME [--server URL] [--gate]

The work is in hooks/entry.py: Python compiles a script on every run but loads a module from
its cached bytecode, ~2 ms less per event.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hooks.entry import main

status = main()
sys.stdout.flush()
# Every file is closed and stdout flushed: skipping the interpreter's teardown saves ~5 ms.
os._exit(status)
