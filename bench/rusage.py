#!/usr/bin/env python3
"""Run one command and write what bench/fair.ts needs to judge it: rusage.py OUT.json CMD [ARG ...].

The command inherits this process's standard streams and environment. OUT.json gets its wall seconds (fork to
exit), its CPU seconds (user + system, every thread, from wait4), its peak RSS, its exit status, and the machine's
busy and total CPU seconds over the same interval from /proc/stat (all cores; steal counts as busy), from which the
caller tells how much CPU other processes took while it ran. Nothing of this process runs between the two readings
but the wait.
"""
import json
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def stat():
    """(busy, total) CPU seconds of the whole machine since boot; idle and iowait are the idle part."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already inside user.
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / HZ, total / HZ


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    busy0, total0 = stat()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    busy1, total1 = stat()
    code = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"wallSeconds": wall, "cpuSeconds": ru.ru_utime + ru.ru_stime, "peakRssMB": ru.ru_maxrss / 1024,
                   "status": code, "machineBusySeconds": busy1 - busy0, "machineSeconds": total1 - total0}, f)
    sys.exit(0 if code == 0 else 1)


if __name__ == "__main__":
    main()
