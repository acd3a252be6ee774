#!/usr/bin/python3
"""http_receiver.py — a recording HTTP server for the notifier tests: it
stands in for Discord, Slack, a webhook, healthchecks or ntfy on loopback.

Usage (Debian's Python, standard library only):

    /usr/bin/python3 tests/e2e/http_receiver.py PORT_FILE LOG_FILE &

It listens on 127.0.0.1, on a port the system picks, and writes that port
to PORT_FILE (atomically, once it accepts connections): a test waits for
the file, never for a fixed time.  It runs until killed (SIGTERM).

Every request is appended to LOG_FILE as one JSON line, flushed before the
answer goes out (so once the client is done, its requests are all there):

    {"seq": 1,                  # order of arrival, over all paths
     "index": 1,                # order of arrival on this path
     "time": 12345.678,         # arrival, time.monotonic() of the receiver:
                                #   compare times with each other only
     "method": "POST", "path": "/seq/500,204/hook", "query": "rid=x&a=b",
     "headers": {"content-type": "application/json", ...},  # names lowercased;
                                #   repeated headers joined with ", "
     "body": "...",             # UTF-8 text (invalid bytes replaced)
     "body_b64": "...",         # the exact bytes
     "answer": "500"}           # the item it was answered with

What it answers depends on the path.  A path starting /seq/ITEMS/ answers
the Nth request to that same path (query aside) with the Nth item of the
comma-separated ITEMS, the last item repeating:

    204, 200, 400, 500 ...   that status; 2xx but 204 say "ok", others a
                             short JSON {"message": ...}
    429r1                    429 with "Retry-After: 1" (seconds)
    429t3                    429 with Retry-After as an HTTP date 3 s ahead
    429d0.5                  429 with Discord's JSON body
                             {"retry_after": 0.5, "global": false, ...}
                             and no Retry-After header
    302                      302 with Location: /seq/204/redirected
    404e                     that status (any), the body repeating the request's
                             path and query, as some frameworks' error pages do
    hang                     reads the request, then never answers until
                             the client goes away
    close                    reads the request, closes without answering

Any other path answers 200 "ok".  Example: /seq/429r1,500,204/hook.
"""
import base64
import email.utils
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ITEM = re.compile(r"^(\d{3})(?:([rtd])(\d+(?:\.\d+)?)|(e))?$|^hang$|^close$")


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, log_path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.log = open(log_path, "a", encoding="utf-8")
        self.lock = threading.Lock()
        self.seq = 0
        self.per_path = {}

    def record(self, entry, path):
        """Numbers and logs one request; returns its index on path."""
        with self.lock:
            self.seq += 1
            index = self.per_path.get(path, 0) + 1
            self.per_path[path] = index
            entry["seq"], entry["index"] = self.seq, index
            return index

    def write(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log.flush()


def item_for(path, index):
    """The answer item for the index-th request to path ("204" by default)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "seq" or not parts[2]:
        return "200"
    items = parts[2].split(",")
    item = items[min(index, len(items)) - 1]
    if not ITEM.match(item):
        return "500"  # a typo in a test: loud rather than silent
    return item


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        arrived = time.monotonic()
        url = urlsplit(self.path)
        body = self.read_body()
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        entry = {
            "time": arrived, "method": self.command, "path": url.path, "query": url.query,
            "headers": headers, "body": body.decode("utf-8", "replace"),
            "body_b64": base64.b64encode(body).decode("ascii"),
        }
        index = self.server.record(entry, url.path)
        item = item_for(url.path, index)
        entry["answer"] = item
        self.server.write(entry)
        self.answer(item, self.path)

    def answer(self, item, target):
        if item == "hang":
            self.hang()
            return
        if item == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        m = ITEM.match(item)
        status, kind, value = int(m.group(1)), m.group(2), m.group(3)
        extra = []
        if m.group(4):
            body = "Cannot %s %s" % (self.command, target)
        elif status == 429 and kind == "d":
            body = json.dumps({"message": "You are being rate limited.",
                               "retry_after": float(value), "global": False})
        elif 200 <= status < 300:
            body = "" if status == 204 else "ok"
        else:
            body = json.dumps({"message": "answered %d as told" % status})
        if status == 429 and kind == "r":
            extra.append(("Retry-After", value))
        if status == 429 and kind == "t":
            extra.append(("Retry-After", email.utils.formatdate(time.time() + float(value),
                                                                usegmt=True)))
        if 300 <= status < 400:
            extra.append(("Location", "/seq/204/redirected"))
        data = body.encode()
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", "application/json" if body.startswith("{")
                             else "text/plain")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def hang(self):
        """Answers nothing; returns once the client has closed."""
        self.close_connection = True
        while True:
            try:
                if not self.connection.recv(4096):
                    return
            except OSError:
                return

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = handle_any


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: http_receiver.py PORT_FILE LOG_FILE")
    port_file, log_path = sys.argv[1], sys.argv[2]
    server = Receiver(log_path)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
