"""``canlian serve``: the web server (waitress) and the task worker, on the embedded database by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def serve(*, host: str, port: int, demo: bool, worker: bool) -> int:
    from canlian.registry.models import Person

    if demo and not Person.objects.exists():
        from canlian.demo import demo_all

        print("首次启动：正在生成演示数据（约需两三分钟）… / first start: loading demo data…")
        demo_all(persons=int(os.environ.get("CANLIAN_DEMO_PERSONS", "15000")), seed=2023)
    worker_proc = None
    if worker:
        worker_proc = subprocess.Popen(
            [sys.executable, "-m", "django", "db_worker", "--interval", "0.5"],
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev"),
            },
        )
    from canlian.registry.demo import print_demo_logins

    print_demo_logins()
    print(f"\n残联业务平台已启动：http://{host}:{port}/  （Ctrl+C 退出） / serving on http://{host}:{port}/")
    from waitress import serve as waitress_serve

    from config.wsgi import application

    try:
        waitress_serve(application, host=host, port=port, threads=8, ident="canlian")
    except KeyboardInterrupt:
        pass
    finally:
        if worker_proc is not None:
            worker_proc.send_signal(signal.SIGTERM)
            try:
                worker_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
    return 0
