"""Stage timing: log lines at start and end, seconds summed per name, CPU of worker processes included."""
import logging
import os
import subprocess
import sys
import time

from vae_cluster.utils.stages import StageTimes, cpu_seconds, stage, start_stages

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def test_stages_log_sum_and_nest(caplog):
    times = start_stages()
    with caplog.at_level(logging.INFO, logger="vae_cluster"):
        for _ in range(2):
            with stage("cluster+score", "vae"):
                with stage("map"):
                    pass
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "cluster+score (vae) ..." and lines[1] == "map ..." and lines[2].startswith("map: ")
    assert lines[3].startswith("cluster+score (vae): ") and "CPU" in lines[3] and len(lines) == 8
    rec = times.record()
    assert list(rec["stages"]) == ["cluster+score", "map"] and rec["stages"]["cluster+score"] >= rec["stages"]["map"]
    assert set(rec["stages_cpu"]) == {"map", "cluster+score"}


def test_a_stage_that_raises_is_still_recorded():
    times = start_stages()
    try:
        with stage("features"):
            raise ValueError("bad clip")
    except ValueError:
        pass
    assert "features" in times.wall


def test_cpu_of_child_processes_counts():
    def children():  # cpu_seconds() without this process's own time
        t = os.times()
        return cpu_seconds() - t.user - t.system

    before = children()
    subprocess.run([sys.executable, "-c", BURN.format(s=0.6)], check=True)  # a finished child
    assert children() - before >= 0.5
    live = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.6) + "time.sleep(60)\n"])
    try:
        deadline = time.monotonic() + 120
        while children() - before < 1.0 and time.monotonic() < deadline:  # a live child, seen while it runs
            time.sleep(0.1)
        assert live.poll() is None and children() - before >= 1.0
    finally:
        live.kill()
        live.wait()


def test_stage_times_add_up():
    t = StageTimes()
    t.add("a", 1.0, 0.5)
    t.add("a", 2.0, 1.0)
    assert t.record() == {"stages": {"a": 3.0}, "stages_cpu": {"a": 1.5}}
