"""A minimal HTTP/2 client (cleartext, prior knowledge) on PyPI `h2`: one request with an
optional body and trailers, and a client that can give up mid-wait."""
import socket
import time

import h2.config
import h2.connection
import h2.events


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body


def request(port, path, headers, method="GET", body=None, trailers=None, abort_after=None, timeout=10, extra_headers=(),
            authority="api.test"):
    """Sends one request; returns its Answer, or None when the client gave up (`abort_after`
    seconds after sending: it closes the connection, as a client that times out does)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    pseudo = [(":method", method), (":path", path), (":authority", authority), (":scheme", "http")]
    ends_with_headers = body is None and not trailers
    fields = pseudo + [(k.lower(), v) for k, v in headers.items()] + list(extra_headers)
    conn.send_headers(stream, fields, end_stream=ends_with_headers)
    if body is not None:
        conn.send_data(stream, body, end_stream=not trailers)
    if trailers:
        conn.send_headers(stream, list(trailers.items()), end_stream=True)
    sock.sendall(conn.data_to_send())
    status, got, chunks = None, {}, []
    deadline = time.time() + (abort_after if abort_after is not None else timeout)
    try:
        while time.time() < deadline:
            sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    got = dict(event.headers)
                    status = int(got[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    chunks.append(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    return Answer(status, got, b"".join(chunks))
            sock.sendall(conn.data_to_send())
        return None if abort_after is not None else Answer(status, got, b"".join(chunks))
    finally:
        sock.close()
