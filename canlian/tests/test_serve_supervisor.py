"""`canlian serve` restarts its task worker when it dies."""

from __future__ import annotations

import os
import sys
import time

from canlian.serve import WorkerSupervisor


def test_a_dying_worker_is_started_again_and_stop_ends_it(tmp_path):
    marker = tmp_path / "starts"
    script = f"open({str(marker)!r}, 'a').write('x'); import sys; sys.exit(3)"
    supervisor = WorkerSupervisor([sys.executable, "-c", script], dict(os.environ), max_delay=0.1)
    supervisor.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not marker.exists() or len(marker.read_text()) < 3):
        time.sleep(0.05)
    supervisor.stop()
    starts = len(marker.read_text())
    assert starts >= 3 and supervisor.restarts >= 2
    time.sleep(0.5)
    assert len(marker.read_text()) == starts  # stopped for good


def test_stop_terminates_a_running_worker(tmp_path):
    supervisor = WorkerSupervisor([sys.executable, "-c", "import time; time.sleep(120)"], dict(os.environ))
    supervisor.start()
    deadline = time.monotonic() + 10
    while supervisor.proc is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc = supervisor.proc
    supervisor.stop()
    assert proc.poll() is not None and supervisor.restarts == 0
