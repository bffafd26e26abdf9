"""Usage reports in the shape ccusage prints: daily, weekly, monthly, session and 5-hour blocks.

- :mod:`.entries` is one priced API response (or, from the server, one usage increment).
- :mod:`.transcripts` reads them straight from Claude Code transcripts, with no server.
- :mod:`.build` groups entries into the reports; :mod:`.blocks` makes the 5-hour windows.
- :mod:`.render` prints a report as a table; `--json` prints the dict as it is.
- :mod:`.ledger` (server only) stores and reads the usage increments the sessions fold makes.

Everything but :mod:`.ledger` uses the standard library, the client package and the price
table only, so `router-ext report --transcripts` and the status line start quickly.
"""
