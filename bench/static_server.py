"""Serves one prepared HTTP response to every request, on keep-alive connections: the floor of
what a scrape of that body costs the bench's client (bench/run.py, `floor`), with no exporter
work behind it. Usage: static_server.py PORT RESPONSE_FILE"""

import socket
import sys
import threading


def serve(conn, response):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                pending += chunk
            pending = pending.split(b"\r\n\r\n", 1)[1]  # a GET has no body
            conn.sendall(response)


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    response = open(path, "rb").read()
    listener = socket.create_server(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, response), daemon=True).start()


if __name__ == "__main__":
    main()
