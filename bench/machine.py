"""What the benchmark ran on, and how busy the machine was, for the report."""

import os
import platform
import time

from harness import docker, run, timed


def describe(scratch):
    """Cores, memory, disk and versions, plus a 1 GiB fsync'd write on the
    scratch disk: the speed a clone cannot beat."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as info:
        mem_kb = int(info.readline().split()[1])
    source = run(["findmnt", "-no", "SOURCE,FSTYPE", "-T", scratch], check=False).stdout.split()
    size = run(["df", "-h", "--output=size", scratch], check=False).stdout.split()[-1]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "disk": f"{' '.join(source) or 'unknown'}, {size}",
        "dd": disk_write_speed(scratch),
        "kernel": platform.release(),
        "docker": docker("version", "--format", "{{.Server.Version}}", check=False),
    }


def disk_write_speed(scratch, mib=1024):
    """MB/s of `dd ... conv=fsync` writing `mib` MiB into the scratch folder."""
    path = os.path.join(scratch, "dd.bin")
    seconds, _ = timed(lambda: run(
        ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fsync"]
    ))
    os.remove(path)
    return mib * 1024 * 1024 / seconds / 1e6


def busyness(run_id):
    """Load average and the containers running that are not this run's."""
    with open("/proc/loadavg", encoding="utf-8") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    everyone = docker("ps", "-q", check=False).split()
    ours = docker("ps", "-q", "--filter", f"label=io.pgshadow.bench={run_id}", check=False).split()
    return {"load": load, "other_containers": len(set(everyone) - set(ours))}
