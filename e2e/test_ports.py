"""The e2e helpers survive a port taken between choosing it and Envoy binding it (CI once went
red on that race)."""
import socket

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
