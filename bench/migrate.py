"""Export and import: moving a standby with
`pgshadow export --out - | pgshadow import --from -` against the same move
by hand with GNU tar, each from a running source standby to a second
standby that streams.

The hand route does what the pgshadow pair does, with plain tools:
`docker stop` the source (its stop signal is SIGINT, a fast shutdown, as
pgshadow's export asks), `tar -cf - | tar -xpf -` (optionally through
`zstd | zstd -d`), `docker start` the source again, point the copy's
primary_slot_name at its own slot, `docker run` a standby on it and poll
until it streams. Both routes get their slot made beforehand (untimed), as
pgshadow's import expects of a standby moving to a new host.
"""

import os
import re
import shlex
import time

from harness import BENCH_LABEL, BenchError, alternate, docker, parse_time_v, run
from lab import PGDATA

STREAM_RE = re.compile(r"exported .* in ([0-9.]+)s to")
EXTRACT_RE = re.compile(r"ok extract and verify into .*\(([0-9.]+)s\)")


class Migration:
    """A source standby cloned by pgshadow, and the two ways of moving it."""

    def __init__(self, lab):
        self.lab = lab
        self.source = f"{lab.prefix}-source"
        self.source_dir = os.path.join(lab.root, self.source)

    def __enter__(self):
        self.lab.clone_pgshadow(self.source, ["--no-verify"])
        return self

    def __exit__(self, *_):
        self.lab.discard(self.source)

    def _source_env(self):
        return {
            "PGSHADOW_STANDBY_CONTAINER": self.source,
            "PGSHADOW_STANDBY_DATA_DIR": self.source_dir,
            "PGSHADOW_REPLICATION_SLOT": self.source.replace("-", "_"),
        }

    def _make_slot(self, name):
        slot = name.replace("-", "_")
        self.lab.psql(f"SELECT pg_create_physical_replication_slot('{slot}', true)")

    def pgshadow_pipe(self, name, compress):
        """export | import, each under /usr/bin/time -v for its peak RSS."""
        lab = self.lab
        self._make_slot(name)
        exp_time = os.path.join(lab.root, f"{name}.export.time")
        imp_time = os.path.join(lab.root, f"{name}.import.time")
        target = os.path.join(lab.root, name)
        overrides = " ".join(shlex.quote(f"{k}={v}") for k, v in {
            "PGSHADOW_STANDBY_CONTAINER": name,
            "PGSHADOW_STANDBY_DATA_DIR": target,
            "PGSHADOW_REPLICATION_SLOT": name.replace("-", "_"),
        }.items())
        pgshadow, config = shlex.quote(lab.pgshadow), shlex.quote(lab.config)
        script = (
            f"set -o pipefail; /usr/bin/time -v -o {exp_time} {pgshadow} -c {config} "
            f"export --out - --compress {compress} "
            f"| env {overrides} /usr/bin/time -v -o {imp_time} {pgshadow} -c {config} "
            "import --from -"
        )

        started = time.perf_counter()
        out = run(["bash", "-c", script], env={**lab.env, **self._source_env()})
        seconds = time.perf_counter() - started
        text = out.stdout + out.stderr
        return {
            "seconds": seconds,
            "stream_s": _parsed(STREAM_RE, text, "export's summary"),
            "extract_s": _parsed(EXTRACT_RE, text, "import's extract step"),
            "export_rss_kb": parse_time_v(exp_time),
            "import_rss_kb": parse_time_v(imp_time),
        }

    def tar_pipe(self, name, compress):
        """The same move with docker, GNU tar (and zstd) by hand."""
        lab = self.lab
        self._make_slot(name)
        target = os.path.join(lab.root, name)
        os.mkdir(target, 0o700)
        middle = " | zstd -q -3 | zstd -d -q" if compress == "zstd" else ""
        script = (
            f"set -o pipefail; tar -cf - -C {shlex.quote(self.source_dir)} .{middle} "
            f"| tar -xpf - -C {shlex.quote(target)}"
        )

        started = time.perf_counter()
        docker("stop", self.source)
        copy_started = time.perf_counter()
        run(["bash", "-c", script])
        stream_s = time.perf_counter() - copy_started
        docker("start", self.source)
        _point_at_slot(target, name.replace("-", "_"))
        docker("run", "-d", "--name", name, "--label", f"{BENCH_LABEL}={lab.run_id}",
               "-u", "999:999", "--stop-signal", "SIGINT", "-e", f"PGDATA={PGDATA}",
               "-v", f"{target}:{PGDATA}", lab.image, "postgres", "-c", "hot_standby=on")
        lab.wait_until_streaming(name)
        return {"seconds": time.perf_counter() - started, "stream_s": stream_s}


def compare(lab, runs):
    """Side by side at the lab's current scale: plain and zstd, both routes."""
    with Migration(lab) as move:
        return alternate(runs, {
            "pgshadow": lab.measure(move.pgshadow_pipe, "none"),
            "tar": lab.measure(move.tar_pipe, "none"),
            "pgshadow zstd": lab.measure(move.pgshadow_pipe, "zstd"),
            "tar zstd": lab.measure(move.tar_pipe, "zstd"),
        })


def memory(lab, runs):
    """pgshadow's pair alone, for its peak RSS on larger data."""
    with Migration(lab) as move:
        return alternate(runs, {"pgshadow": lab.measure(move.pgshadow_pipe, "none")})


def _point_at_slot(data_dir, slot):
    """Rewrites primary_slot_name in the copy's postgresql.auto.conf."""
    path = os.path.join(data_dir, "postgresql.auto.conf")
    with open(path, encoding="utf-8") as conf:
        lines = [line for line in conf if not line.startswith("primary_slot_name")]
    lines.append(f"primary_slot_name = '{slot}'\n")
    with open(path, "w", encoding="utf-8") as conf:
        conf.writelines(lines)


def _parsed(pattern, text, what):
    found = pattern.search(text)
    if not found:
        raise BenchError(f"no seconds in {what}:\n{text[-2000:]}")
    return float(found.group(1))
