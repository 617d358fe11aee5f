"""``canlian serve``: the web server (waitress) and the task worker, on the embedded database by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time


class WorkerSupervisor:
    """Runs the task worker (``canlian worker``, which checks the keys first) and starts it again when it
    exits, waiting longer after each quick failure (1 s doubling to 60 s) so a worker that cannot start does
    not spin. ``stop()`` ends it for good."""

    def __init__(self, command: list[str], env: dict[str, str], *, max_delay: float = 60.0):
        self.command, self.env, self.max_delay = command, env, max_delay
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            self.proc = subprocess.Popen(self.command, env=self.env)
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            delay = 1.0 if ran > 60 else min(delay * 2, self.max_delay)
            self.restarts += 1
            print(
                f"后台任务进程已退出（代码 {code}），{delay:.0f} 秒后重新启动 / worker exited ({code}), restarting",
                file=sys.stderr,
            )
            self._stopping.wait(delay)

    def stop(self) -> None:
        self._stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._thread.join(timeout=15)


# waitress drops every X-Forwarded-* header unless the peer is a trusted proxy. Behind the HTTPS reverse proxy
# (deploy/nginx/canlian.conf, on the same machine) Django must see the scheme the proxy was reached by (else the
# production settings' SECURE_SSL_REDIRECT answers every request with a redirect to itself, and session and CSRF
# cookies, which are Secure, never come back) and the client's address (the audit log's ``ip``). Only a proxy
# on this machine is trusted, and only for these two headers; from any other peer they are dropped.
WAITRESS_OPTIONS = {
    "threads": 8,
    "ident": "canlian",
    "trusted_proxy": "127.0.0.1",
    "trusted_proxy_count": 1,
    "trusted_proxy_headers": {"x-forwarded-proto", "x-forwarded-for"},
    "clear_untrusted_proxy_headers": True,
}


def serve(*, host: str, port: int, demo: bool, worker: bool) -> int:
    from canlian.registry.models import Person

    if demo and not Person.objects.exists():
        from canlian.demo import demo_all

        print("首次启动：正在生成演示数据（约需两三分钟）… / first start: loading demo data…")
        demo_all(persons=int(os.environ.get("CANLIAN_DEMO_PERSONS", "15000")), seed=2023)
    supervisor = None
    if worker:
        supervisor = WorkerSupervisor(
            [sys.executable, "-m", "canlian.cli", "worker", "--interval", "0.5"],
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev"),
            },
        )
        supervisor.start()
    from canlian.registry.demo import print_demo_logins

    print_demo_logins()
    print(f"\n残联业务平台已启动：http://{host}:{port}/  （Ctrl+C 退出） / serving on http://{host}:{port}/")
    from waitress import serve as waitress_serve

    from config.wsgi import application

    try:
        waitress_serve(application, host=host, port=port, **WAITRESS_OPTIONS)
    except KeyboardInterrupt:
        pass
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0
