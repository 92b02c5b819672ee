"""docs/BENCHMARKS.md from one run's results: the summary table with
ratios, targets and pass/miss, then each measurement's runs."""

import report_remote
from notes import FINDINGS, METHOD
from tables import ratio as _x
from tables import runs as _runs
from tables import seconds as _s
from tables import table as _table
from tables import verdict as _verdict

MB = 1e6


def render(results, quick=False):
    lines = ["# Benchmarks", ""]
    lines += _header(results, quick)
    lines += ["## Summary", ""]
    lines += _table(
        ["#", "figure", "pgshadow (median)", "baseline (median)", "ratio", "target", "result"],
        _summary_rows(results),
    )
    lines += [""]
    lines += _details(results)
    remote = results.get("remote")
    if remote:
        lines += report_remote.details(remote)
    # A run of one scenario (--only) describes only what it measured.
    local = "chown" in results
    method = [METHOD] if local else []
    findings = [FINDINGS] if local else []
    if remote:
        method.append(report_remote.METHOD)
        findings.append(report_remote.FINDINGS)
    lines += ["## How each figure is measured", "", "\n\n".join(method), ""]
    lines += ["## Findings", "", "\n".join(findings), ""]
    return "\n".join(lines)


def _header(results, quick):
    m = results["machine"]
    before, after = results["busy_before"], results["busy_after"]
    lines = [
        f"Written by `make bench` on {m['date']} in {results['minutes']:.1f} minutes; "
        f"every figure is the median of {results['runs']} runs ({min(results['runs'], 3)} "
        "for the slow link and scale 100, which take longest; every run is listed below), "
        "the compared commands alternating run by run (AB, BA, AB...).",
        "",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['memory']} memory",
        f"- disk: {m['disk']}; a 1 GiB `dd conv=fsync` wrote {m['dd']:.0f} MB/s",
        f"- software: kernel {m['kernel']}, Docker {m['docker']}, "
        f"PostgreSQL {results.get('pg_version', '?')} (image pgshadow/postgres:15)",
        f"- load: load average {before['load']} at the start and {after['load']} at the end; "
        f"{before['other_containers']} and {after['other_containers']} other containers running "
        "(other engineers' tests share this machine, so absolute times are noisy; the ratios "
        "are measured side by side)",
        "",
    ]
    loads = [float(b["load"].split()[0]) for b in (before, after)]
    if max(loads) > m["cores"] or after["other_containers"] or before["other_containers"]:
        lines += [
            "**The machine was busy during (part of) this run** (load average above the core "
            "count, or other containers running): absolute times are slower than on a quiet "
            "machine; each ratio compares commands run side by side under the same load.",
            "",
        ]
    if quick:
        lines = ["**A --quick trial run with small data: not the benchmark.**", ""] + lines
    return lines


def _summary_rows(results):
    rows = []
    over = results.get("overhead")
    if over:
        s = over["samples"]
        pg, raw, verified = s["pgshadow"], s["raw"], s["pgshadow verified"]
        ratio = pg.median() / raw.median()
        rows.append([1, f"clone scale {over['scale']} until streaming, --no-verify",
                     _s(pg.median()), f"raw {_s(raw.median())}", _x(ratio), "<= 1.05x",
                     _verdict(ratio <= 1.05)])
        verify = verified.median("verify_s")
        rows.append([1, "pg_verifybackup on the copy (verify stage)", _s(verify), "-",
                     f"+{verify / pg.median() * 100:.0f}% of the clone", "reported", "-"])
    slow = results.get("slow")
    if slow:
        s = slow["samples"]
        plain = s["none"]
        for method in ["server-lz4", "server-zstd"]:
            ratio = s[method].median() / plain.median()
            wire = s[method].median("wire_bytes") / plain.median("wire_bytes")
            rows.append([2, f"clone scale {slow['scale']} at {slow['rate']}, {method} "
                            f"({_x(wire)} the bytes)",
                         _s(s[method].median()), f"uncompressed {_s(plain.median())}", _x(ratio),
                         "<= 0.5x", _verdict(ratio <= 0.5)])
    if "chown" in results:
        rows += _migrate_rows(results)
        chown = results["chown"]
        walk, ref = chown["pgshadow walk"], chown["chown -R"]
        ratio = walk.median() / ref.median()
        rows.append([4, f"owner of {results['chown_files']:,} files", _s(walk.median()),
                     f"chown -R {_s(ref.median())}", _x(ratio), "<= 1.0x",
                     _verdict(ratio <= 1.0)])
        rows += _rss_rows(results)
        rows += _growth_rows(results)
    if "remote" in results:
        rows += report_remote.summary_rows(results["remote"])
    return rows


def _rss_rows(results):
    low, high = results["rss_scales"]
    rss = {scale: results["scales"][scale]["pgshadow"].median("rss_kb") / 1024
           for scale in (low, high)}
    flat = rss[high] / rss[low]
    return [
        [5, f"peak RSS of clone-standby, scale {low}", f"{rss[low]:.1f} MB", "-", "-",
         "<= 30 MB", _verdict(rss[low] <= 30)],
        [5, f"peak RSS of clone-standby, scale {high}", f"{rss[high]:.1f} MB",
         f"scale {low}: {rss[low]:.1f} MB", _x(flat), "<= 30 MB, flat (<= 1.1x)",
         _verdict(rss[high] <= 30 and flat <= 1.1)],
    ] + _migrate_rss_rows(results)


def _migrate_rows(results):
    moved = results["migrate"]
    s = moved["samples"]
    rows = []
    pairs = [("pgshadow", "tar", "export \\| import", "tar \\| tar"),
             ("pgshadow zstd", "tar zstd", "export --compress zstd \\| import",
              "tar \\| zstd \\| zstd -d \\| tar")]
    for ours, theirs, label, what in pairs:
        ratio = s[ours].median() / s[theirs].median()
        rows.append([3, f"{label}, scale {moved['scale']}, until the new standby streams",
                     _s(s[ours].median()), f"{what} {_s(s[theirs].median())}", _x(ratio),
                     "<= 1.0x", _verdict(ratio <= 1.0)])
        stream = s[ours].median("stream_s") / s[theirs].median("stream_s")
        rows.append([3, f"the stream alone ({ours}: export's own time; {theirs}: the pipe)",
                     _s(s[ours].median("stream_s")), _s(s[theirs].median("stream_s")),
                     _x(stream), "reported", "-"])
    return rows


def _migrate_rss_rows(results):
    low, high = results["rss_scales"]
    rows = []
    for side in ["export", "import"]:
        rss = {scale: results["scales"][scale]["migrate"].median(f"{side}_rss_kb") / 1024
               for scale in (low, high)}
        flat = rss[high] / rss[low]
        rows.append([5, f"peak RSS of {side}, scale {low} and {high}",
                     f"{rss[low]:.1f} / {rss[high]:.1f} MB", "-", _x(flat),
                     "<= 30 MB, flat (<= 1.1x)",
                     _verdict(max(rss.values()) <= 30 and flat <= 1.1)])
    return rows


def _growth_rows(results):
    fit = growth_fit(results)
    overheads = [e["pgshadow"].median("overhead_s") for e in results["scales"].values()]
    spread = max(overheads) - min(overheads)
    return [
        [6, "pg_basebackup stage against data size", f"R² {fit['r2']:.3f}",
         f"{fit['slope']:.1f} s/GB + {fit['intercept']:.1f} s", "-", "linear (R² >= 0.98)",
         _verdict(fit["r2"] >= 0.98)],
        [6, "pgshadow's own time (total - pg_basebackup)",
         f"{min(overheads):.1f} to {max(overheads):.1f} s", "-", f"spread {spread:.1f} s",
         "constant (spread <= 1 s)", _verdict(spread <= 1.0)],
    ]


def growth_fit(results):
    """Least squares of the pg_basebackup stage (s) against bytes copied (GB)."""
    points = [(e["pgshadow"].median("bytes") / 1e9, e["pgshadow"].median("basebackup_s"))
              for e in results["scales"].values()]
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for _, y in points)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1}


def _details(results):
    lines = ["## Runs", ""]
    if "chown" not in results:
        return lines
    over = results.get("overhead")
    if over:
        lines += [f"### 1. Clone overhead (scale {over['scale']})", ""]
        rows = []
        for name, s in over["samples"].items():
            rows.append([name, _runs(s.seconds), _s(s.median()),
                         _runs(s.extra.get("basebackup_s", [])),
                         _runs(s.extra.get("preflight_s", [])) or "-",
                         _runs(s.extra.get("start_wait_s", [])),
                         _runs(s.extra.get("verify_s", [])) or "-"])
        lines += _table(["command", "runs (s)", "median", "pg_basebackup part (s)",
                         "preflight (s)", "start and wait (s)", "verify stage (s)"], rows)
        lines += [""]
    slow = results.get("slow")
    if slow:
        lines += [f"### 2. {slow['rate']} link (scale {slow['scale']})", ""]
        rows = [[name, _runs(s.seconds), _s(s.median()),
                 f"{s.median('wire_bytes') / MB:.0f}", f"{s.median('bytes') / MB:.0f}"]
                for name, s in slow["samples"].items()]
        lines += _table(["--compress", "runs (s)", "median", "MB on the wire",
                         "MB on disk"], rows) + [""]
    moved = results["migrate"]
    lines += [f"### 3. Export and import (scale {moved['scale']})", ""]
    rows = []
    for name, s in moved["samples"].items():
        rss = "-"
        if "export_rss_kb" in s.extra:
            rss = (f"{s.median('export_rss_kb') / 1024:.1f} / "
                   f"{s.median('import_rss_kb') / 1024:.1f}")
        rows.append([name, _runs(s.seconds), _s(s.median()), _runs(s.extra["stream_s"]),
                     _runs(s.extra.get("extract_s", [])) or "-", rss])
    lines += _table(["route", "runs (s)", "median", "stream (s)", "import's extract (s)",
                     "peak RSS export / import (MB)"], rows) + [""]
    lines += ["### 4. Ownership", ""]
    rows = [[name, _runs(s.seconds), _s(s.median())] for name, s in results["chown"].items()]
    lines += _table(["command", "runs (s)", "median"], rows) + [""]
    lines += ["### 5 and 6. Growth and memory (pgshadow clone-standby --no-verify)", ""]
    rows = []
    for scale, e in results["scales"].items():
        s = e["pgshadow"]
        rate = s.median("bytes") / s.median("basebackup_s") / MB
        rows.append([scale, f"{e['db_bytes'] / MB:.0f}", f"{s.median('bytes') / MB:.0f}",
                     _runs(s.seconds), _s(s.median()), _s(s.median("basebackup_s")),
                     _s(s.median("overhead_s")), f"{rate:.0f}",
                     f"{s.median('rss_kb') / 1024:.1f}"])
    lines += _table(["scale", "database MB", "copied MB", "runs (s)", "median",
                     "pg_basebackup (s)", "pgshadow's own (s)", "MB/s", "peak RSS (MB)"], rows)
    return lines + [""]

