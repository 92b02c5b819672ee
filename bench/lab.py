"""A lab primary filled by pgbench, and the two ways of cloning it that the
benchmark compares: `pgshadow clone-standby` and a hand-run
`pg_basebackup -X stream -R --checkpoint=fast` followed by a plain standby
container, each timed from start until the standby streams.

The lab comes from the real `pgshadow lab up`; its own standby is removed
right away so that it does not replay pgbench's writes during the runs.
"""

import json
import os
import time

from harness import BENCH_LABEL, BenchError, docker, log, parse_time_v, remove_tree, run

# pg_basebackup writes this path into primary_conninfo; the raw standby
# keeps its certificates mounted there, as a hand-made setup would.
CERT_DIR = "/run/pgshadow-certs"
PGDATA = "/var/lib/postgresql/data"
# The same poll interval as pgshadow's wait_until_streaming.
POLL_SECONDS = 0.5


class Lab:
    def __init__(self, pgshadow, image, root, run_id, cleanup):
        self.pgshadow = pgshadow
        self.image = image
        self.root = root
        self.run_id = run_id
        self.cleanup = cleanup
        self.dir = os.path.join(root, "lab")
        self.prefix = f"pgsb-{run_id}"
        self.primary = f"{self.prefix}-primary"
        self.config = os.path.join(self.dir, "pgshadow.yaml")
        self.env = {"PGSHADOW_LABELS": f"{BENCH_LABEL}={run_id}", "CI": "true"}
        self.port = None
        self.host = None
        self.serial = 0

    def up(self):
        """`pgshadow lab up`, then the lab's own standby and slot are dropped."""
        self.cleanup.add("remove the lab folder", lambda: remove_tree(self.dir))
        run(
            [self.pgshadow, "lab", "up", "--dir", self.dir, "--name", self.prefix,
             "--image", self.image],
            env=self.env,
        )
        with open(self.config, encoding="utf-8") as config:
            text = config.read()
        self.port = int(_yaml_value(text, "port"))
        self.host = _yaml_value(text, "host")
        docker("rm", "-f", f"{self.prefix}-standby")
        self.drop_slot(self.prefix.replace("-", "_"))
        self.raw_certs = self._raw_certs()

    def psql(self, sql):
        return docker("exec", self.primary, "psql", "-U", "postgres", "-XAtc", sql)

    def fill(self, scale):
        """Re-creates the pgbench tables at `scale` (server-side generation)
        and checkpoints; returns the database's size in bytes."""
        log(f"pgbench -i -s {scale}")
        docker("exec", self.primary, "pgbench", "-U", "postgres", "-i", "-q", "-I", "dtGvp",
               "-s", str(scale), "postgres")
        self.psql("CHECKPOINT")
        return int(self.psql("SELECT pg_database_size('postgres')"))

    def drop_slot(self, slot):
        """Drops `slot`; a walsender may hold it for a moment after its standby died."""
        deadline = time.monotonic() + 30
        while True:
            active = self.psql(
                f"SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'"
            )
            if active == "":
                return
            if active == "f":
                self.psql(f"SELECT pg_drop_replication_slot('{slot}')")
                return
            if time.monotonic() > deadline:
                raise BenchError(f"slot {slot} on {self.primary} stays active")
            time.sleep(0.2)

    def measure(self, clone, *args):
        """A function for `alternate`: one clone under a fresh name, timed by
        `clone` itself, then discarded (untimed)."""
        def once():
            self.serial += 1
            name = f"{self.prefix}-{self.serial}"
            try:
                return clone(name, *args)
            finally:
                self.discard(name)
        return once

    def discard(self, name):
        """Removes a clone: its container, its directory, its slot."""
        docker("rm", "-f", "-v", name, check=False)
        remove_tree(os.path.join(self.root, name))
        self.drop_slot(name.replace("-", "_"))

    def clone_pgshadow(self, name, flags):
        """`pgshadow clone-standby --json FLAGS` into a new container and
        directory; returns seconds, peak RSS and the JSON's stage seconds."""
        target = os.path.join(self.root, name)
        report = os.path.join(self.root, f"{name}.time")
        env = {
            **self.env,
            "PGSHADOW_STANDBY_CONTAINER": name,
            "PGSHADOW_STANDBY_DATA_DIR": target,
            "PGSHADOW_REPLICATION_SLOT": name.replace("-", "_"),
        }
        started = time.perf_counter()
        out = run(
            ["/usr/bin/time", "-v", "-o", report, self.pgshadow, "-c", self.config,
             "clone-standby", "--json", *flags],
            env=env,
        )
        seconds = time.perf_counter() - started
        summary = json.loads(out.stdout)
        stages = summary["stage_seconds"]
        figures = {
            "seconds": seconds,
            "rss_kb": parse_time_v(report),
            "basebackup_s": stages["pg_basebackup"],
            "overhead_s": seconds - stages["pg_basebackup"],
            "preflight_s": seconds - sum(stages.values()),
            "start_wait_s": stages["start"] + stages["wait until streaming"],
            "bytes": summary["bytes"],
        }
        if "verify" in stages:
            figures["verify_s"] = stages["verify"]
        os.remove(report)
        return figures

    def clone_raw(self, name):
        """pg_basebackup in a container of the same image, as the image's
        postgres user with the same certificates and conninfo, then a
        standby container on the copy; timed until it streams."""
        target = os.path.join(self.root, name)
        os.mkdir(target, 0o700)
        os.chown(target, 999, 999)
        labels = ["--label", f"{BENCH_LABEL}={self.run_id}"]
        certs = ["-v", f"{self.raw_certs}:{CERT_DIR}:ro"]
        slot = name.replace("-", "_")
        conninfo = (
            f"host={self.host} port={self.port} user=replication_user sslmode=verify-full "
            f"sslrootcert={CERT_DIR}/ca.crt sslcert={CERT_DIR}/client.crt "
            f"sslkey={CERT_DIR}/client.key application_name={name}"
        )

        started = time.perf_counter()
        run(["docker", "run", "--rm", *labels, "-u", "999:999", "-e", "LC_ALL=C", *certs,
             "-v", f"{target}:/run/pgshadow-clone", self.image,
             "pg_basebackup", "-D", "/run/pgshadow-clone", "-X", "stream", "-R",
             "--checkpoint=fast", "-C", "-S", slot, "-d", conninfo])
        copied = time.perf_counter() - started
        run(["docker", "run", "-d", "--name", name, *labels, "-u", "999:999",
             "--stop-signal", "SIGINT", "-e", f"PGDATA={PGDATA}", *certs,
             "-v", f"{target}:{PGDATA}", self.image, "postgres", "-c", "hot_standby=on"])
        self.wait_until_streaming(name)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "basebackup_s": copied, "start_wait_s": seconds - copied}

    def wait_until_streaming(self, name, timeout=120):
        deadline = time.monotonic() + timeout
        sql = "SELECT status FROM pg_stat_wal_receiver"
        while time.monotonic() < deadline:
            out = run(["docker", "exec", name, "psql", "-U", "postgres", "-XAtc", sql],
                      check=False)
            if out.returncode == 0 and out.stdout.strip() == "streaming":
                return
            time.sleep(POLL_SECONDS)
        logs = docker("logs", "--tail", "20", name, check=False)
        raise BenchError(f"raw standby {name} did not stream within {timeout}s:\n{logs}")

    def _raw_certs(self):
        """The lab's client certificate, key and CA, copied for uid 999:
        libpq reads a key only when its own user owns it (or root with 0640)."""
        folder = os.path.join(self.root, "raw-certs")
        os.mkdir(folder, 0o700)
        for name in ["ca.crt", "client.crt", "client.key"]:
            path = os.path.join(folder, name)
            with open(os.path.join(self.dir, "pki", name), "rb") as src:
                data = src.read()
            with open(path, "wb") as dst:
                dst.write(data)
            os.chmod(path, 0o600)
            os.chown(path, 999, 999)
        os.chown(folder, 999, 999)
        return folder


def _yaml_value(text, key):
    """The first `key: value` in the lab's own pgshadow.yaml (flat values only)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{key}:"):
            return stripped.split(":", 1)[1].strip()
    raise BenchError(f"lab config has no {key}")
