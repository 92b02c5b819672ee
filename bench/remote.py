"""A standby on a remote engine: what the helper container costs.

The lab's primary runs on this machine's engine (A); its standby runs on
engine B (`lab up --remote-standby`). Every command is run twice the same
way, on the same daemon and the same data, and only the address of B
differs: B's TLS tcp endpoint (the config's `standby.docker_host`), where
pgshadow reaches the data directory through a helper container and the
archive endpoints, and B's unix socket (`PGSHADOW_STANDBY_DOCKER_HOST`),
pgshadow's local fast path, which is what running pgshadow on the standby's
own host would do. Each run checks, from B's event log, that it took the
path it was meant to.
"""

import glob
import json
import os
import re
import time

from engine_b import EngineB
from harness import BenchError, alternate, log, parse_time_v, remove_tree, run, settle
from lab import Lab
from migrate import STREAM_RE

ROUTES = ["remote", "local"]
EXTRACT_RE = re.compile(r"extract and verify into .*\(([0-9.]+)s\)")


class RemoteLab(Lab):
    """`pgshadow lab up --remote-standby`: the primary on A, the standby on
    B, in a folder and under names of their own."""

    def __init__(self, pgshadow, image, root, run_id, cleanup, engine):
        super().__init__(pgshadow, image, root, run_id, cleanup)
        self.engine = engine
        self.dir = os.path.join(root, "remote-lab")
        self.prefix = f"pgsr-{run_id}"
        self.primary = f"{self.prefix}-primary"
        self.config = os.path.join(self.dir, "pgshadow.yaml")
        self.standby_dir = os.path.join(self.dir, "standby")
        self.env = {**self.env, **engine.tls_env()}

    def up(self):
        self.cleanup.add("remove the remote lab folder", lambda: remove_tree(self.dir))
        run([self.pgshadow, "lab", "up", "--dir", self.dir, "--name", self.prefix,
             "--image", self.image, "--remote-standby", self.engine.tcp], env=self.env)

    def route_env(self, route):
        """The config names B's tcp endpoint; the local route overrides it."""
        if route == "remote":
            return self.env
        return {**self.env, "PGSHADOW_STANDBY_DOCKER_HOST": self.engine.unix}

    def pgshadow_timed(self, route, *args):
        """Runs pgshadow against the lab under /usr/bin/time -v; returns
        (seconds, peak RSS in kB, stdout + stderr, helpers B created)."""
        report = os.path.join(self.root, "remote.time")
        since = time.time()
        started = time.perf_counter()
        out = run(["/usr/bin/time", "-v", "-o", report, self.pgshadow, "-c", self.config,
                   *args], env=self.route_env(route))
        seconds = time.perf_counter() - started
        rss_kb = parse_time_v(report)
        os.remove(report)
        helpers = self.engine.expect_route(route, since)
        return seconds, rss_kb, out, helpers

    def remove_replaced(self):
        """--force keeps the old directory aside; drop it (untimed)."""
        for kept in glob.glob(f"{self.standby_dir}.replaced-*"):
            remove_tree(kept)

    def largest_file(self):
        """Bytes of the biggest file in the standby's directory: a peak RSS
        far below it shows the copy never holds a whole file."""
        sizes = [os.path.getsize(os.path.join(folder, name))
                 for folder, _, names in os.walk(self.standby_dir) for name in names]
        return max(sizes)


def clone(lab, route):
    """`clone-standby --force --json` over the running standby on B."""
    def once():
        seconds, rss_kb, out, helpers = lab.pgshadow_timed(
            route, "clone-standby", "--force", "--json")
        lab.remove_replaced()
        stages = json.loads(out.stdout)["stage_seconds"]
        preflight = seconds - sum(stages.values())
        return {
            "seconds": seconds,
            "rss_kb": rss_kb,
            "helpers": helpers,
            "basebackup_s": stages["pg_basebackup"],
            "finalize_s": stages["finalize"],
            "swap_s": stages["swap"],
            "verify_s": stages.get("verify", 0.0),
            "start_wait_s": stages["start"] + stages["wait until streaming"],
            "preflight_s": preflight,
            "own_s": preflight + stages["finalize"] + stages["swap"],
        }
    return once


def export(lab, route):
    """`export --out FILE` (plain) of the standby, which export stops and
    starts again; the archive is deleted afterwards."""
    def once():
        path = os.path.join(lab.root, f"remote-{route}.tar")
        seconds, rss_kb, out, helpers = lab.pgshadow_timed(route, "export", "--out", path)
        figures = {
            "seconds": seconds,
            "rss_kb": rss_kb,
            "helpers": helpers,
            "stream_s": _seconds(STREAM_RE, out, "export's summary"),
            "archive_bytes": os.path.getsize(path),
        }
        os.remove(path)
        return figures
    return once


def import_(lab, route):
    """`import --from FILE --force` onto B, replacing the standby there.
    The archive is made just before, untimed, by `export --stop` (as a
    move would): the standby stays stopped, so its slot still holds every
    WAL segment the copy needs. An older archive could need WAL that a
    checkpoint (each clone makes one) has removed since."""
    def once():
        archive = os.path.join(lab.root, "remote-standby.tar")
        run([lab.pgshadow, "-c", lab.config, "export", "--stop", "--out", archive],
            env=lab.route_env("local"))
        settle()
        seconds, rss_kb, out, helpers = lab.pgshadow_timed(
            route, "import", "--from", archive, "--force")
        os.remove(archive)
        lab.remove_replaced()
        return {"seconds": seconds, "rss_kb": rss_kb, "helpers": helpers,
                "extract_s": _seconds(EXTRACT_RE, out, "import's extract step")}
    return once


def compare(lab, runs):
    """Each command both ways, alternating run by run."""
    log("  clone-standby --force: helper against fast path")
    clones = alternate(runs, {route: clone(lab, route) for route in ROUTES})
    log("  export: helper against fast path")
    exports = alternate(runs, {route: export(lab, route) for route in ROUTES})
    log("  import --force: helper against fast path")
    imports = alternate(runs, {route: import_(lab, route) for route in ROUTES})
    return {"clone": clones, "export": exports, "import": imports}


def memory(lab, runs):
    """The helper route's three commands alone, for peak RSS on more data."""
    return alternate(runs, {
        "clone": clone(lab, "remote"),
        "export": export(lab, "remote"),
        "import": import_(lab, "remote"),
    })


def measure(pgshadow, image, root, run_id, cleanup, sizes, runs):
    """Engine B up, the remote lab up and filled, both comparisons; B is
    removed by `cleanup` (registered before it starts)."""
    engine = EngineB(root, image, cleanup)
    log("remote: engine B up")
    engine.up()
    lab = RemoteLab(pgshadow, image, root, run_id, cleanup, engine)
    log("remote: lab up --remote-standby")
    lab.up()
    result = {"pg_version": lab.psql("SHOW server_version")}

    low, high = sizes["remote"], sizes["remote_rss"]
    result["db_bytes"] = lab.fill(low)
    result["scale"] = low
    log(f"remote: scale {low}, both routes")
    result["samples"] = compare(lab, runs)
    result["largest_file"] = lab.largest_file()

    result["rss_db_bytes"] = lab.fill(high)
    result["rss_scale"] = high
    log(f"remote: scale {high}, the helper route's memory")
    result["rss_samples"] = memory(lab, min(runs, 3))
    result["rss_largest_file"] = lab.largest_file()
    return result


def _seconds(pattern, out, what):
    text = out.stdout + out.stderr
    found = pattern.search(text)
    if not found:
        raise BenchError(f"no seconds in {what}:\n{text[-2000:]}")
    return float(found.group(1))
