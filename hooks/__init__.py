"""Claude Code hooks for router-ext: the command hook entry point, the gate and settings."""
