#!/usr/bin/python3
"""smtp_sink.py - a real SMTP server on loopback that keeps every message it accepts.

Run with Debian's /usr/bin/python3 (python3-aiosmtpd). Each accepted message is saved as
DIR/NNNN.eml (the exact bytes received in DATA) with DIR/NNNN.json beside it (envelope sender,
recipients, the user that authenticated or null). With --user (and the password in the
environment variable RB_SINK_SMTP_PASSWORD) AUTH PLAIN/LOGIN is offered, over plain TCP since
this is loopback only, and a wrong password is refused with 535; --require-auth refuses mail from
a client that did not log in (530). With --tls-cert/--tls-key, --tls starttls offers STARTTLS and
refuses mail before it, --tls smtps speaks TLS from the first byte; the .json then says "tls":
true. The port is written to --port-file once the server listens. Stops on SIGTERM/SIGINT.
--lose-replies N: the first N messages are saved, then the connection is dropped before the reply
to DATA (the classic duplicate: the client cannot know the message was accepted).
"""
import argparse
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, folder, lose_replies=0):
        self.folder = folder
        self.lock = threading.Lock()
        self.lose_replies = lose_replies

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = len([f for f in os.listdir(self.folder) if f.endswith(".eml")]) + 1
            base = os.path.join(self.folder, "%04d" % n)
            with open(base + ".eml.tmp", "wb") as f:
                f.write(envelope.original_content)
            tls = session.ssl is not None or (
                server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None)
            meta = {
                "tls": tls,
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "auth_user": session.auth_data.login.decode()
                if session.authenticated and isinstance(session.auth_data, LoginPassword) else None,
            }
            with open(base + ".json", "w") as f:
                json.dump(meta, f)
            os.rename(base + ".eml.tmp", base + ".eml")
            lose = self.lose_replies > 0
            if lose:
                self.lose_replies -= 1
        if lose and server.transport is not None:
            server.transport.abort()  # saved, but the client never hears so
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user")
    ap.add_argument("--require-auth", action="store_true")
    ap.add_argument("--tls", choices=["starttls", "smtps"])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--lose-replies", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    password = os.environ.get("RB_SINK_SMTP_PASSWORD", "")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and a.user is not None
              and auth_data.login.decode() == a.user and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    kw = {}
    if a.user:
        kw = dict(authenticator=authenticator, auth_require_tls=False,
                  auth_required=a.require_auth)
    ctl_kw = {}
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.tls == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        else:
            ctl_kw["ssl_context"] = ctx
    port = a.port
    if port == 0:
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    ctl = Controller(Sink(a.dir, a.lose_replies), hostname="127.0.0.1", port=port, **ctl_kw, **kw)
    ctl.start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(a.port_file + ".tmp", a.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
