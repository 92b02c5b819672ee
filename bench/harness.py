"""Running commands, timing them side by side, and cleaning up after them.

Everything the benchmark starts in Docker carries the label
`io.pgshadow.bench=<run id>`; `Cleanup` removes those containers, the
scratch folder and any traffic shaping when the run ends, also on an
exception or Ctrl-C.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

BENCH_LABEL = "io.pgshadow.bench"


class BenchError(Exception):
    """A step of the benchmark failed; the message names the command."""


def log(message):
    """Progress on stderr, so that a long run shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args, env=None, check=True, capture=True, timeout=900):
    """Runs a command; returns CompletedProcess. Fails with its output when `check`."""
    full_env = None if env is None else {**os.environ, **env}
    out = subprocess.run(
        args,
        env=full_env,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
    )
    if check and out.returncode != 0:
        shown = " ".join(args)
        raise BenchError(
            f"`{shown}` exited with {out.returncode}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
        )
    return out


def docker(*args, check=True):
    """Runs the docker CLI and returns stdout, trimmed."""
    return run(["docker", *args], check=check).stdout.strip()


def timed(fn):
    """Calls fn() and returns (seconds, its result)."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median(values):
    return statistics.median(values) if values else float("nan")


@dataclass
class Samples:
    """Wall-clock seconds (and any extra figures) of the runs of one command."""

    name: str
    seconds: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def add_extra(self, key, value):
        self.extra.setdefault(key, []).append(value)

    def median(self, key=None):
        return median(self.seconds if key is None else self.extra.get(key, []))


def alternate(runs, commands, between=None):
    """Runs each of `commands` (name -> fn returning a dict of figures, with
    "seconds" when the fn times itself) `runs` times, interleaved: the order
    rotates every round (AB, BA, AB...) so no command always goes first.
    `between` runs untimed before every measurement."""
    between = between or settle
    names = list(commands)
    samples = {name: Samples(name) for name in names}
    for round_ in range(runs):
        shift = round_ % len(names)
        order = names[shift:] + names[:shift]
        for name in order:
            between()
            seconds, figures = timed(commands[name])
            figures = dict(figures or {})
            seconds = figures.pop("seconds", seconds)
            samples[name].seconds.append(seconds)
            for key, value in figures.items():
                samples[name].add_extra(key, value)
            shown = ", ".join(f"{k}={_short(v)}" for k, v in figures.items())
            log(f"  {name}: {seconds:.2f}s {shown}")
    return samples


def _short(value):
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def settle():
    """Writes dirty pages back so one run's writeback does not slow the next."""
    os.sync()


def parse_time_v(path):
    """Peak RSS in kB from a `/usr/bin/time -v -o path` report."""
    with open(path, encoding="utf-8") as report:
        for line in report:
            if "Maximum resident set size" in line:
                return int(line.rsplit(":", 1)[1])
    raise BenchError(f"{path}: no 'Maximum resident set size' line from /usr/bin/time -v")


class Cleanup:
    """Undo steps run in reverse order at exit, also on SIGINT/SIGTERM."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.steps = []
        signal.signal(signal.SIGTERM, self._interrupted)
        signal.signal(signal.SIGINT, self._interrupted)

    def _interrupted(self, signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def add(self, description, fn):
        self.steps.append((description, fn))

    def remove_labelled_containers(self):
        names = docker(
            "ps", "-aq", "--filter", f"label={BENCH_LABEL}={self.run_id}", check=False
        ).split()
        if names:
            run(["docker", "rm", "-f", "-v", *names], check=False)

    def run_all(self):
        for description, fn in reversed(self.steps):
            try:
                fn()
            except Exception as e:  # best effort: report and go on with the rest
                log(f"cleanup: could not {description}: {e}")
        self.steps.clear()
        self.remove_labelled_containers()


def remove_tree(path):
    """Removes a directory tree (files owned by 999 included; we run as root)."""
    shutil.rmtree(path, ignore_errors=True)
