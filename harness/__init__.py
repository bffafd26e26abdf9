"""Client-side pieces of router-ext: parsing Claude Code output, sending events."""
