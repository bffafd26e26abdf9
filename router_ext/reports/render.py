"""Reports as plain text tables (`--json` prints the report dict instead)."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]
FIRST = {"daily": ("date", "Date"), "weekly": ("week", "Week"), "monthly": ("month", "Month"),
         "session": ("sessionId", "Session")}
USAGE_HEAD = ("Models", "Input", "Output", "Cache create", "Cache read", "Total tokens",
              "Cost (USD)")


def money(value: float) -> str:
    """Dollars with cents, or four places under a dollar."""
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def _int(value: int) -> str:
    return f"{value:,}"


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, cell in enumerate(cells):
            numeric = i > 1 and (cell[:1].isdigit() or cell.startswith(("$", "-")))
            out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


def _usage_cells(row: Row, models: str) -> tuple[str, ...]:
    return (models, _int(row["inputTokens"]), _int(row["outputTokens"]),
            _int(row["cacheCreationTokens"]), _int(row["cacheReadTokens"]),
            _int(row["totalTokens"]), money(row["totalCost"]))


def usage_table(kind: str, report: Row, breakdown: bool) -> str:
    """daily, weekly, monthly or session as a table, with a totals row."""
    key, title = FIRST[kind]
    rows: list[tuple[str, ...]] = []
    for row in report["sessions" if kind == "session" else kind]:
        rows.append((str(row[key]), *_usage_cells(row, ", ".join(row["modelsUsed"]))))
        if breakdown:
            for b in row["modelBreakdowns"]:
                cells = {**b, "totalTokens": sum(b[k] for k in (
                    "inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")),
                    "totalCost": b["cost"]}
                rows.append(("", *_usage_cells(cells, f"  └ {b['modelName']}")))
    rows.append(("Total", *_usage_cells(report["totals"], "")))
    return table((title, *USAGE_HEAD), rows)


def blocks_table(report: Row) -> str:
    """The blocks, with the active one's burn rate and projection."""
    rows: list[tuple[str, ...]] = []
    for block in report["blocks"]:
        if block["isGap"]:
            rows.append((block["startTime"][:16], "(gap)", "", "", "", "", ""))
            continue
        rate, proj = block["burnRate"], block["projection"]
        rows.append((block["startTime"][:16], "ACTIVE" if block["isActive"] else "",
                     ", ".join(block["models"]), _int(block["totalTokens"]),
                     money(block["costUSD"]),
                     f"{money(rate['costPerHour'])}/h" if rate else "",
                     f"{money(proj['totalCost'])} in {proj['remainingMinutes']} min"
                     if proj else ""))
    return table(("Block start (UTC)", "Status", "Models", "Tokens", "Cost (USD)", "Burn rate",
                  "Projected at end"), rows)


def render(kind: str, report: Row, *, breakdown: bool = False) -> str:
    """The report as text."""
    return blocks_table(report) if kind == "blocks" else usage_table(kind, report, breakdown)
