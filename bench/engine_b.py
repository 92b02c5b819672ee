"""Engine B for the benchmark: a second Docker daemon on this machine,
started and removed with the integration tests' fixture
(fixtures/engine-b/up.sh and down.sh). B answers on a unix socket and on a
TLS tcp endpoint, so the same daemon and the same files can be driven both
ways: through the socket, pgshadow's local fast path (system calls on the
data directory), and over tcp, the helper container a remote engine needs.
"""

import os
import socket
import time

from harness import BenchError, run

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(os.path.dirname(HERE), "fixtures", "engine-b")
HELPER_ROLE = "files"


class EngineB:
    def __init__(self, root, image, cleanup):
        self.dir = os.path.join(root, "engine-b")
        self.image = image
        self.cleanup = cleanup
        self.port = _free_port()
        self.tcp = f"tcp://127.0.0.1:{self.port}"
        self.unix = f"unix://{self.dir}/docker.sock"
        self.cert_path = os.path.join(self.dir, "certs")

    def up(self):
        """Starts B. The undo step is registered first, so that an interrupt
        while up.sh runs still removes whatever it had made."""
        self.cleanup.add("stop engine B", self.down)
        run(["bash", os.path.join(FIXTURE, "up.sh"), self.dir, str(self.port)],
            env={"ENGINE_B_IMAGE": self.image}, timeout=300)

    def down(self):
        """down.sh is safe to run twice and after a half-done up.sh."""
        run(["bash", os.path.join(FIXTURE, "down.sh"), self.dir], timeout=300)

    def tls_env(self):
        """What a client needs for B's tcp endpoint; the address itself
        comes from pgshadow's config (standby.docker_host)."""
        return {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": self.cert_path}

    def docker(self, *args):
        return run(["docker", "-H", self.unix, *args]).stdout.strip()

    def helpers_created(self, since, until):
        """How many of pgshadow's file helpers B created between two
        time.time() stamps: the proof of which path a run took."""
        out = self.docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                          "--filter", "type=container", "--filter", "event=create",
                          "--filter", f"label=io.pgshadow.role={HELPER_ROLE}",
                          "--format", "{{.ID}}")
        return len(out.split())

    def expect_route(self, route, since):
        """Fails the benchmark when a run took the other path than asked."""
        # The daemon stamps events itself; give its clock a moment to pass `until`.
        until = time.time() + 0.1
        time.sleep(0.1)
        helpers = self.helpers_created(since, until)
        if (helpers > 0) != (route == "remote"):
            raise BenchError(f"the {route} route made {helpers} file helper(s) on engine B: "
                             "it did not take the path it was meant to measure")
        return helpers


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
