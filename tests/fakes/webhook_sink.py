#!/usr/bin/python3
"""webhook_sink.py - a real HTTP server on loopback that keeps every POST body it receives.

Each POST is saved as DIR/NNNN.json (the exact body) with DIR/NNNN.meta (path, Content-Type
and the Idempotency-Key header, null when absent: the copies of one message share one key). While the file DIR/answer-500 exists, it answers 500 with a short body and keeps
nothing: a receiver that is down on demand. A HEAD (prepare's channel check, which must post
nothing) is answered 405 with "Allow: POST", as POST-only receivers do (500 while answer-500
exists), and logged as one line "HEAD <path>" in DIR/heads.log, never as a post. The port is
written to --port-file once it listens.
"""
import argparse
import http.server
import json
import os
import threading

LOCK = threading.Lock()


def handler_for(folder):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_HEAD(self):
            with LOCK:
                with open(os.path.join(folder, "heads.log"), "a") as f:
                    f.write("HEAD %s\n" % self.path)
            failing = os.path.exists(os.path.join(folder, "answer-500"))
            self.send_response(500 if failing else 405)
            if not failing:
                self.send_header("Allow", "POST")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if os.path.exists(os.path.join(folder, "answer-500")):
                msg = b"receiver failing on purpose"
                self.send_response(500)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            with LOCK:
                k = len([f for f in os.listdir(folder) if f.endswith(".json")]) + 1
                base = os.path.join(folder, "%04d" % k)
                with open(base + ".meta", "w") as f:
                    json.dump({"path": self.path,
                               "content_type": self.headers.get("Content-Type"),
                               "idempotency_key": self.headers.get("Idempotency-Key")}, f)
                with open(base + ".json.tmp", "wb") as f:
                    f.write(body)
                os.rename(base + ".json.tmp", base + ".json")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler_for(a.dir))
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
