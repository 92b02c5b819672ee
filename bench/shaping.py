"""A slow link between the clone and the primary, made with tc.

The shaper is a token bucket (tbf) on the primary container's own eth0,
inside its network namespace. That interface's egress carries every byte
the primary sends, whichever way the clone reaches it (through Docker's
userland proxy on the published port, or routed), so the base backup's
data direction is the one slowed down. The host-side veth's egress would
shape the other direction, towards the primary. This kernel has no netem,
so there is no added delay: only the bandwidth is limited.

Bytes on the wire are the interface's transmit counter before and after.
"""

import json

from harness import BenchError, docker, run


class Shaper:
    def __init__(self, container, cleanup):
        self.container = container
        self.cleanup = cleanup
        self.pid = docker("inspect", "-f", "{{.State.Pid}}", container)
        self.active = False

    def _netns(self, *args, check=True):
        return run(["nsenter", "-t", self.pid, "-n", *args], check=check)

    def limit(self, rate):
        """Adds the tbf qdisc. The burst is large enough for a 64 kB GSO
        packet, which tbf would otherwise have to split or drop."""
        self.cleanup.add(f"remove the qdisc on {self.container}", self.remove)
        self._netns("tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
                    "rate", rate, "burst", "256kb", "latency", "100ms")
        self.active = True

    def remove(self):
        """Removes the qdisc again; a container already gone took it with it."""
        if not self.active:
            return
        out = self._netns("tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        if out.returncode != 0 and "No such" not in out.stderr and "Cannot find" not in out.stderr:
            raise BenchError(f"tc qdisc del in {self.container}: {out.stderr.strip()}")
        self.active = False

    def sent_bytes(self):
        """Bytes the primary has transmitted on eth0 so far."""
        out = self._netns("ip", "-j", "-s", "link", "show", "dev", "eth0")
        return json.loads(out.stdout)[0]["stats64"]["tx"]["bytes"]

    def qdisc(self):
        return self._netns("tc", "qdisc", "show", "dev", "eth0").stdout.strip()
