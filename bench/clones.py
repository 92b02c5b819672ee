"""The clone measurements: overhead against a hand-run pg_basebackup,
growth with the data, and a 100 Mbit/s link with and without compression.
Each function runs its commands side by side and returns their Samples."""

from harness import alternate, log
from shaping import Shaper

NO_VERIFY = ["--no-verify"]


def overhead(lab, runs):
    """pgshadow (with and without pg_verifybackup) against the raw
    pg_basebackup + standby container, each until the standby streams."""
    return alternate(runs, {
        "pgshadow": lab.measure(lab.clone_pgshadow, NO_VERIFY),
        "raw": lab.measure(lab.clone_raw),
        "pgshadow verified": lab.measure(lab.clone_pgshadow, []),
    })


def growth(lab, runs):
    """pgshadow alone, for the time-against-size series and peak RSS."""
    return alternate(runs, {"pgshadow": lab.measure(lab.clone_pgshadow, NO_VERIFY)})


def slow_link(lab, runs, rate, methods):
    """Clones over a link shaped to `rate`, one command per compression
    method ("none" is uncompressed); figures include the bytes the primary
    sent. The qdisc is removed afterwards, also on failure."""
    shaper = Shaper(lab.primary, lab.cleanup)

    def counted(name, flags):
        sent = shaper.sent_bytes()
        figures = lab.clone_pgshadow(name, flags)
        figures["wire_bytes"] = shaper.sent_bytes() - sent
        return figures

    shaper.limit(rate)
    log(f"shaped: {shaper.qdisc()}")
    try:
        return alternate(runs, {
            method: lab.measure(counted, [*NO_VERIFY, "--compress", method])
            for method in methods
        })
    finally:
        shaper.remove()
