"""Markdown tables and the number formats every report section shares."""


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def runs(values):
    return ", ".join(f"{v:.2f}" if v < 10 else f"{v:.1f}" for v in values)


def seconds(value):
    if value != value:
        return "-"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def ratio(value):
    return f"{value:.2f}x"


def verdict(ok):
    return "pass" if ok else "**miss**"
