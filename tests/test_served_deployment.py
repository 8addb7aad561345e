"""A real `prefect server start` on a loopback port, the served deployment registered, a run triggered and seen to
complete. Bounded in time; the server and the serve process are stopped at the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RETRIED_STATUSES = {429, 502, 503, 504}  # what Prefect's own client retries: a busy server's SQLite says 503


def api(url: str, path: str, body: dict | None = None, attempts: int = 8) -> object:
    """One call to the server's REST API, retried with backoff on the statuses Prefect's client retries."""
    for attempt in range(attempts):
        req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code not in RETRIED_STATUSES or attempt == attempts - 1:
                raise
            time.sleep(min(2 ** attempt, 15))
    raise AssertionError("unreachable")


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def test_served_deployment_runs_on_a_real_server(tmp_path):
    from equity_outcomes.synth import generate_network

    raw = tmp_path / "raw"
    generate_network(raw, n_students=800, n_schools=12, first_year=2022, last_year=2024, readiness=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect_home"), "PREFECT_API_URL": url,
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_ENABLED": "false", "EQUITY_OUTCOMES_ID_KEY": "demo"}
    logs = tmp_path / "server.log"
    log_fh = open(logs, "w")  # noqa: SIM115  (the server writes to it for the whole test; closed in finally)
    serve_fh = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log_fh, stderr=subprocess.STDOUT)
    served = None
    try:
        wait_for(lambda: api(url, "/health"), 120, f"the Prefect server (log: {logs})")
        served = subprocess.Popen(
            [str(BIN / "equity-outcomes"), "serve", "--name", "test", "--raw", str(raw),
             "--warehouse", str(tmp_path / "w.duckdb"), "--dashboards", str(tmp_path / "dash")],
            env=env, cwd=ROOT, stdout=serve_fh, stderr=subprocess.STDOUT,
        )
        deployment = wait_for(
            lambda: next(iter(api(url, "/deployments/filter", {"deployments": {"name": {"any_": ["test"]}}})), None),
            90, "the deployment to register",
        )
        assert deployment["schedules"] and deployment["schedules"][0]["schedule"]["cron"] == "0 6 15 10 *"
        run = api(url, f"/deployments/{deployment['id']}/create_flow_run", {"parameters": {}})
        state = wait_for(
            lambda: (s := api(url, f"/flow_runs/{run['id']}")["state"]["type"]) in ("COMPLETED", "FAILED", "CRASHED")
            and s,
            240, "the triggered run to finish",
        )
        assert state == "COMPLETED", (tmp_path / "serve.log").read_text()[-3000:]
        assert (tmp_path / "w.duckdb").exists()
    finally:
        for proc in (served, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        log_fh.close()
        serve_fh.close()
