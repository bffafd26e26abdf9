"""Subcommands of the `router-ext` console script, one module each."""
