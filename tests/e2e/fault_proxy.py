#!/usr/bin/python3
"""A fault-injecting TCP proxy for the tests of the remote storages
(test_s3.sh, test_webdav.sh, test_ftp.sh, test_sftp.sh).

The real servers (s3rver, nginx, vsftpd, sshd) cannot be made to flap, so
this stands between moonbak and one of them; it knows nothing of their
protocols, only TCP connections, counted in the order they arrive:
usage: fault_proxy.py LISTEN_PORT TARGET_PORT DROP STALL STALL_SECONDS LOG
DROP and STALL are comma-separated connection numbers (1 is the first
connection) or "-".  A dropped connection is reset at once (as a crashing
or restarting server does), a stalled one is accepted and left silent for
STALL_SECONDS (a hung server), then closed ("3 released"); every other one
is forwarded.  Each connection's number and fate are appended to LOG, one a
line ("3 dropped"); "listening" comes first.  A test that finds no
"released" knows its client gave up on the stalled connection by itself."""
import socket
import struct
import sys
import threading
import time

listen_port, target_port = map(int, sys.argv[1:3])
drop, stall = ({int(n) for n in arg.split(",") if n.isdigit()} for arg in sys.argv[3:5])
stall_seconds = float(sys.argv[5])
log_path = sys.argv[6]


def log(word):
    with open(log_path, "a") as f:
        f.write(word + "\n")


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward(client):
    upstream = socket.create_connection(("127.0.0.1", target_port))
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def stall_then_close(client, count):
    time.sleep(stall_seconds)
    log(f"{count} released")  # before the close: a client woken by it finds the line
    client.close()


def main():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    log("listening")
    count = 0
    while True:
        client, _ = server.accept()
        count += 1
        if count in drop:
            log(f"{count} dropped")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        elif count in stall:
            log(f"{count} stalled")
            threading.Thread(target=stall_then_close, args=(client, count), daemon=True).start()
        else:
            log(f"{count} forwarded")
            forward(client)


main()
