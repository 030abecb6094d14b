#!/usr/bin/env python3
"""The built operator as a process, as it runs in a cluster, against `kubesmith envtest serve`.

Runs testdata/memcached-operator's binary with leader election, plain-HTTP metrics and probes,
applies the sample with kubectl, and checks what an operator's users and Prometheus see: the
sample becomes Ready, the probes answer, the reconcile counter moves, the Lease names the
leader, and SIGTERM exits 0 with the Lease released.

    testdata/e2e.py KUBESMITH_BINARY OPERATOR_BINARY PROJECT_DIR
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

DEADLINE = 90  # seconds; generous for a loaded CI machine, the checks end as soon as they hold
LEASE = "memcached-operator-leader"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    sys.exit(f"e2e: timed out waiting for {what}")


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return None, ""


def kubectl(kubeconfig, *args):
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args],
                          capture_output=True, text=True, timeout=DEADLINE)


def lease_holder(kubeconfig):
    out = kubectl(kubeconfig, "get", "lease", LEASE, "-n", "default", "-o", "json")
    if out.returncode != 0:
        return None
    return json.loads(out.stdout).get("spec", {}).get("holderIdentity", "")


def main():
    kubesmith, operator, project = sys.argv[1:4]
    work = tempfile.mkdtemp(prefix="kubesmith-e2e-")
    kubeconfig = os.path.join(work, "kubeconfig")
    server = subprocess.Popen([kubesmith, "envtest", "serve", "--kubeconfig", kubeconfig,
                               "--crds", os.path.join(project, "config/crd/bases")],
                              stdout=subprocess.DEVNULL)
    manager = None
    try:
        wait_for("the kubeconfig of envtest serve", lambda: os.path.exists(kubeconfig))
        metrics, probes = free_port(), free_port()
        manager = subprocess.Popen(
            [operator, "--leader-elect", "--leader-election-namespace=default",
             f"--leader-election-id={LEASE}", f"--metrics-bind-address=127.0.0.1:{metrics}",
             "--metrics-secure=false", f"--health-probe-bind-address=127.0.0.1:{probes}"],
            env={**os.environ, "KUBECONFIG": kubeconfig})

        for probe in ("healthz", "readyz"):
            wait_for(f"/{probe}", lambda: http_get(f"http://127.0.0.1:{probes}/{probe}") == (200, "ok"))
        print("e2e: /healthz and /readyz answer ok")

        sample = os.path.join(project, "config/samples/cache_v1alpha1_memcached.yaml")
        applied = kubectl(kubeconfig, "apply", "-f", sample)
        if applied.returncode != 0:
            sys.exit(f"e2e: kubectl apply failed: {applied.stderr}")
        ready = kubectl(kubeconfig, "wait", "--for=condition=Ready", "memcached/memcached-sample",
                        f"--timeout={DEADLINE}s")
        if ready.returncode != 0:
            sys.exit(f"e2e: the sample did not become Ready: {ready.stderr}")
        print("e2e: kubectl sees the sample Ready")

        def reconciled():
            status, body = http_get(f"http://127.0.0.1:{metrics}/metrics")
            for line in body.splitlines():
                if line.startswith('controller_runtime_reconcile_total{') \
                        and 'controller="memcached"' in line and 'result="success"' in line:
                    return float(line.rsplit(" ", 1)[1]) > 0
            return False
        wait_for("controller_runtime_reconcile_total{controller=\"memcached\",result=\"success\"} > 0", reconciled)
        print("e2e: /metrics counts successful reconciles")

        holder = wait_for("the Lease to name a holder", lambda: lease_holder(kubeconfig))
        print(f"e2e: the Lease {LEASE} is held by {holder}")

        manager.send_signal(signal.SIGTERM)
        code = manager.wait(timeout=DEADLINE)
        manager = None
        if code != 0:
            sys.exit(f"e2e: the operator exited {code} on SIGTERM, expected 0")
        if lease_holder(kubeconfig):
            sys.exit("e2e: the Lease was not released on shutdown")
        print("e2e: SIGTERM exits 0 and releases the Lease")
    finally:
        for process in (manager, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


if __name__ == "__main__":
    main()
