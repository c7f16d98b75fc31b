#!/usr/bin/python3
"""connect_proxy.py - an HTTP CONNECT proxy for the proxy-url tests, logging each tunnel.

  connect_proxy.py --port-file FILE --log FILE

Listens on 127.0.0.1 (a free port, written to --port-file once listening), answers CONNECT
host:port with 200 and relays bytes both ways; every other method gets 405. Each CONNECT is one
line in --log: "CONNECT host:port User-Agent". Standard library only.
"""

import argparse
import os
import select
import socket
import socketserver
import threading

LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(65536).decode("latin-1").strip()
        headers = {}
        while True:
            h = self.rfile.readline(65536).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        with LOCK, open(self.server.log, "a") as f:
            f.write("CONNECT %s %s\n" % (parts[1], headers.get("user-agent", "")))
        host, _, port = parts[1].rpartition(":")
        try:
            up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        # the client sends nothing before our 200, so rfile holds no bytes of the tunnel
        a, b = self.connection, up
        try:
            while True:
                r, _, _ = select.select([a, b], [], [], 30)
                if not r:
                    return
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        finally:
            up.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.log = args.log
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
