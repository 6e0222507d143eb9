"""The e2e helpers survive a port taken between choosing it and Envoy binding it (CI once went
red on that race)."""
import socket
import urllib.request

import pytest

import envoy as envoy_module

def test_envoy_starts_again_on_fresh_ports_when_a_listener_port_was_taken(tmp_path, monkeypatch):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    real, handed = envoy_module.free_port, []

    def first_taken():
        port = taken if not handed else real()
        handed.append(port)
        return port

    monkeypatch.setattr(envoy_module, "free_port", first_taken)
    e = envoy_module.Envoy("e2e-jwt.yaml", tmp_path)
    try:
        assert taken in handed and taken not in e.ports.values()
        assert e.proc.poll() is None
    finally:
        e.stop()
        holder.close()


def test_ports_are_below_the_ephemeral_range_and_never_handed_out_twice():
    low = envoy_module._port_range()
    ports = [envoy_module.free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    if low:
        assert all(low[0] <= p < low[1] for p in ports)


def test_a_port_handed_out_that_equals_a_later_original_is_not_rewritten_again(tmp_path, monkeypatch):
    """The admin is handed the number the bootstrap gives its echo cluster (10101): Envoy's admin
    must end on that port, not on the echo's new one (CI once waited 30 s on such an admin)."""
    text = (envoy_module.ROOT / "envoy-config" / "e2e-jwt.yaml").read_text()
    assert envoy_module._ports_in(text) == [9902, 10001, 10101]
    assert envoy_module.render_ports(text, {9902: 10101, 10001: 10001, 10101: 11111}).count("port_value: 10101}") == 1
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 10101))
        except OSError:
            pytest.skip("127.0.0.1:10101 is in use here")
    real, handed = envoy_module.free_port, []

    def admin_first():
        port = 10101 if not handed else real()
        handed.append(port)
        return port

    monkeypatch.setattr(envoy_module, "free_port", admin_first)
    e = envoy_module.Envoy("e2e-jwt.yaml", tmp_path)
    try:
        assert e.admin.endswith(":10101") and e.ports[10101] != 10101
        with urllib.request.urlopen(e.admin + "/ready", timeout=5) as r:
            assert r.status == 200
    finally:
        e.stop()


def test_no_port_handed_out_reads_as_a_bootstrap_number():
    originals = set()
    for path in list((envoy_module.ROOT / "envoy-config").glob("*.yaml")):
        originals.update(envoy_module._ports_in(path.read_text()))
    assert originals and max(originals) < envoy_module.FIRST_FREE
    if envoy_module._port_range():
        assert not originals & {envoy_module.free_port() for _ in range(50)}
