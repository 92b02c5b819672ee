#!/usr/bin/env python3
"""`make bench`: pgshadow against the tools it drives, side by side, on
this machine; writes docs/BENCHMARKS.md.

Why Python and not hyperfine alone: every clone needs untimed set-up and
tear-down (a fresh directory, container and slot; removing them after),
the compared commands must alternate run by run, and the figures come from
several places (pgshadow's --json stage times, /usr/bin/time -v, the
primary's transmit counter). hyperfine runs all runs of one command before
the next and measures only wall time, so it is not used.

Usage: python3 bench/run.py [--runs N] [--out docs/BENCHMARKS.md] [--quick] [--only NAME]
       python3 bench/run.py --render target/bench-results.json   (the report again)
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clones  # noqa: E402
import machine  # noqa: E402
import migrate  # noqa: E402
import ownership  # noqa: E402
import remote  # noqa: E402
import report  # noqa: E402
from harness import BenchError, Cleanup, Samples, log, remove_tree  # noqa: E402
from lab import Lab  # noqa: E402

IMAGE = "pgshadow/postgres:15"
# "local": every measurement on this machine's engine (items 1 to 6 of the
# report); "remote": a standby on a second engine, engine B (item 7).
SCENARIOS = ["local", "remote"]


def parse_args():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5,
                        help="runs per command (median of these); at most 3 for the slow "
                             "link and scale 100, which take longest")
    parser.add_argument("--out", default=None,
                        help="the report (default docs/BENCHMARKS.md; with --only, "
                             "target/bench-NAME.md, so a partial run never replaces it)")
    parser.add_argument("--pgshadow", default=os.path.join(repo, "target/release/pgshadow"))
    parser.add_argument("--walker",
                        default=os.path.join(repo, "target/release/examples/chown_walk"))
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--scratch", default=os.environ.get("BENCH_DIR", "/var/tmp"),
                        help="folder on the disk to measure (default /var/tmp, $BENCH_DIR)")
    parser.add_argument("--quick", action="store_true",
                        help="small scales and files, to try the driver (not for the report)")
    parser.add_argument("--results", default=None,
                        help="where the raw results are kept (JSON; default "
                             "target/bench-results.json, with --only target/bench-results-NAME.json)")
    parser.add_argument("--only", choices=SCENARIOS,
                        help="run one scenario: local (items 1 to 6) or remote (item 7)")
    parser.add_argument("--render", metavar="JSON",
                        help="only write the report again from kept results")
    args = parser.parse_args()
    suffix = f"-{args.only}" if args.only else ""
    if args.out is None:
        args.out = (os.path.join(repo, "target", f"bench{suffix}.md") if args.only
                    else os.path.join(repo, "docs", "BENCHMARKS.md"))
    if args.results is None:
        args.results = os.path.join(repo, "target", f"bench-results{suffix}.json")
    return args


def plan(quick):
    """Scales and sizes. The slow link uses scale 20: at 100 Mbit/s the
    uncompressed copy of scale 50 alone would take a minute per run."""
    if quick:
        return {"scales": [2, 4, 6, 8], "overhead": 6, "slow": 4, "migrate": 4, "rss": [4, 8],
                "files": 10_000, "remote": 4, "remote_rss": 8}
    return {"scales": [10, 20, 50, 100], "overhead": 50, "slow": 20, "migrate": 20,
            "rss": [20, 100], "files": 100_000, "remote": 20, "remote_rss": 50}


def measure_remote(args, sizes, root, run_id, cleanup, results):
    """Item 7: the same commands through engine B's tcp endpoint (helper
    container) and its unix socket (fast path)."""
    measured = remote.measure(args.pgshadow, args.image, root, run_id, cleanup, sizes,
                              args.runs)
    results.setdefault("pg_version", measured.pop("pg_version"))
    results["remote"] = measured


def measure(args, sizes, lab, results):
    heavy = min(args.runs, 3)
    results["chown"] = ownership.measure(args.walker, lab.root, sizes["files"], args.runs)
    results["chown_files"] = sizes["files"]

    log("lab up")
    lab.up()
    results["pg_version"] = lab.psql("SHOW server_version")
    for scale in sizes["scales"]:
        db_bytes = lab.fill(scale)
        entry = {"db_bytes": db_bytes}
        if scale == sizes["overhead"]:
            log(f"scale {scale}: clone overhead against raw pg_basebackup")
            samples = clones.overhead(lab, args.runs)
            results["overhead"] = {"scale": scale, "samples": samples}
            entry["pgshadow"] = samples["pgshadow"]
        else:
            log(f"scale {scale}: growth")
            runs = heavy if scale == max(sizes["scales"]) else args.runs
            entry["pgshadow"] = clones.growth(lab, runs)["pgshadow"]
        if scale == sizes["slow"]:
            log(f"scale {scale}: a 100 Mbit/s link")
            samples = clones.slow_link(
                lab, heavy, "100mbit", ["none", "server-lz4", "server-zstd"]
            )
            results["slow"] = {"scale": scale, "rate": "100 Mbit/s", "samples": samples}
        if scale == sizes["migrate"]:
            log(f"scale {scale}: export | import against tar | tar")
            results["migrate"] = {"scale": scale, "samples": migrate.compare(lab, args.runs)}
            entry["migrate"] = results["migrate"]["samples"]["pgshadow"]
        elif scale in sizes["rss"]:
            log(f"scale {scale}: export | import, memory")
            entry["migrate"] = migrate.memory(lab, heavy)["pgshadow"]
        results["scales"][scale] = entry


def save(results, path):
    def encode(value):
        if isinstance(value, Samples):
            return {"__samples__": dataclasses.asdict(value)}
        raise TypeError(f"cannot keep {type(value)}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        json.dump(results, out, default=encode, indent=1)


def load(path):
    def decode(obj):
        if "__samples__" in obj:
            return Samples(**obj["__samples__"])
        return obj
    with open(path, encoding="utf-8") as kept:
        results = json.load(kept, object_hook=decode)
    results["scales"] = {int(k): v for k, v in results["scales"].items()}
    return results


def write_report(results, args):
    text = report.render(results, quick=args.quick or results.get("quick", False))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(text)
    log(f"wrote {args.out}")


def main():
    args = parse_args()
    if args.render:
        write_report(load(args.render), args)
        return 0
    sizes = plan(args.quick)
    run_id = uuid.uuid4().hex[:8]
    root = tempfile.mkdtemp(prefix=f"pgshadow-bench-{run_id}-", dir=args.scratch)
    cleanup = Cleanup(run_id)
    cleanup.add(f"remove {root}", lambda: remove_tree(root))
    lab = Lab(args.pgshadow, args.image, root, run_id, cleanup)
    results = {"scales": {}, "runs": args.runs}
    chosen = [args.only] if args.only else SCENARIOS
    if "local" in chosen:
        results["rss_scales"] = sizes["rss"]
    started = time.monotonic()
    try:
        results["machine"] = machine.describe(root)
        results["busy_before"] = machine.busyness(run_id)
        if "local" in chosen:
            measure(args, sizes, lab, results)
        if "remote" in chosen:
            measure_remote(args, sizes, root, run_id, cleanup, results)
        results["busy_after"] = machine.busyness(run_id)
    except (BenchError, KeyboardInterrupt) as e:
        log(f"benchmark failed: {e}")
        return 1
    finally:
        cleanup.run_all()
    results["minutes"] = (time.monotonic() - started) / 60
    results["quick"] = args.quick
    save(results, args.results)
    write_report(results, args)
    log(f"measured in {results['minutes']:.1f} minutes; raw results in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
