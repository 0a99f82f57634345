"""A keep-alive connection the server has closed is reopened at once, not treated as an outage."""

import socket
import threading

from revolt_pipeline.sdk import Client

ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{"success":true,"accepted":1} '
)


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def test_a_connection_closed_by_the_server_while_idle_is_reopened_without_a_retry() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    requests: list[bytes] = []

    def serve() -> None:
        # Each connection answers one request and is then closed, as an idle timeout would.
        for _ in range(3):
            connection, _ = server.accept()
            with connection:
                head = _read_request(connection)
                if head:
                    requests.append(head)
                    connection.sendall(ANSWER)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = Client("key", f"http://127.0.0.1:{port}", send_in_background=False, max_backoff=5.0)
    try:
        for n in range(3):
            assert client.track(user_id="u", event="Tick", properties={"n": n})
            assert client.flush(timeout=10)
        assert len(requests) == 3
        assert client.stats["retries"] == 0
        assert client.stats["sent"] == 3
    finally:
        client.shutdown(timeout=1)
        server.close()
