#!/usr/bin/python3
"""smtp_server.py — a real SMTP server (Debian's python3-aiosmtpd) on
127.0.0.1 for the email notifier's tests.

    smtp_server.py MODE OUT_DIR [options]

MODE:
  starttls  offers STARTTLS (--cert and --key required)
  plain     offers no STARTTLS
  smtps     TLS from the first byte (implicit TLS; --cert and --key required)

Options:
  --cert FILE, --key FILE   the server's certificate and key (PEM)
  --auth-file FILE          AUTH is required, with the user and password of
                            FILE's first and second lines (a file, so that the
                            password is in no argv); aiosmtpd refuses AUTH
                            before STARTTLS
  --tempfail N              the first N messages get "451" for RCPT TO
  --reject-prefix TEXT      recipients beginning with TEXT get "550"

The port, chosen by the OS, is written to OUT_DIR/port once the server
listens (written under another name, then renamed: a reader never sees a
partial file).  Each message accepted is saved as OUT_DIR/NNN.eml (its raw
data) before the server answers 250, and described by a JSON line in
OUT_DIR/messages.jsonl: {"file", "mail_from", "rcpt_tos", "tls", "auth"}.
Every connection is logged in OUT_DIR/connections.log (one line each), so
that a test can count attempts.  Runs until killed.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["starttls", "plain", "smtps"])
    p.add_argument("out_dir")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth-file")
    p.add_argument("--tempfail", type=int, default=0)
    p.add_argument("--reject-prefix")
    return p.parse_args()


class Recorder:
    """aiosmtpd's handler: checks recipients, saves each message."""

    def __init__(self, args):
        self.out_dir = args.out_dir
        self.tempfail = args.tempfail
        self.reject_prefix = args.reject_prefix
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_prefix and address.startswith(self.reject_prefix):
            return "550 5.1.1 no such mailbox here"
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%03d.eml" % self.count
        path = os.path.join(self.out_dir, name)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        record = {
            "file": name,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "auth": session.authenticated,
        }
        with open(os.path.join(self.out_dir, "messages.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK message %d accepted" % self.count


def make_authenticator(path):
    with open(path) as f:
        user, password = f.read().split("\n")[:2]

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        # handled=False: aiosmtpd answers the failure itself (535)
        return AuthResult(success=ok, handled=False)

    return authenticate


def tls_context(args):
    if not args.cert or not args.key:
        sys.exit("smtp_server.py: --cert and --key are required for " + args.mode)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


def main():
    args = parse_args()
    handler = Recorder(args)
    ctx = tls_context(args) if args.mode in ("starttls", "smtps") else None
    options = {"hostname": "smtp.test", "ident": "moonbak test SMTP"}
    if args.mode == "starttls":
        options["tls_context"] = ctx
    if args.auth_file:
        options["authenticator"] = make_authenticator(args.auth_file)
        options["auth_required"] = True
        # With implicit TLS, aiosmtpd does not know the connection is
        # encrypted (it only counts STARTTLS): it would never offer AUTH.
        options["auth_require_tls"] = args.mode != "smtps"
    log = open(os.path.join(args.out_dir, "connections.log"), "a", buffering=1)

    def factory():
        log.write("connection\n")
        return SMTP(handler, **options)

    async def serve():
        server = await asyncio.get_running_loop().create_server(
            factory, host="127.0.0.1", port=0, ssl=ctx if args.mode == "smtps" else None)
        port = server.sockets[0].getsockname()[1]
        port_file = os.path.join(args.out_dir, "port")
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(port_file + ".tmp", port_file)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
