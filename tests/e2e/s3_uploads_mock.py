#!/usr/bin/python3
"""A MOCK, in front of the real s3rver, for the two S3 operations s3rver
does not implement (it answers 501 NotImplemented to ListMultipartUploads
and 405 MethodNotAllowed to AbortMultipartUpload): it answers those itself
from the incomplete uploads s3rver keeps on disk (DATA/BUCKET/._S3rver_uploads/ID/key)
and forwards every other request to s3rver untouched.  Only what no real
server here can do is mocked: the uploads themselves are made by s3rver.

ListMultipartUploads honours prefix, delimiter ("/"), max-uploads and the
key-marker / upload-id-marker of the next page, as S3 documents them.

usage: s3_uploads_mock.py LISTEN-PORT S3RVER-PORT DATA-DIR LOG
Writes "listening" to LOG when ready, then one line per request it answers itself."""
import http.client
import http.server
import os
import shutil
import sys
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

listen_port, target_port, data_dir, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")


def uploads_of(bucket):
    """(key, upload id) of every incomplete upload s3rver holds, sorted as S3 lists them."""
    root = os.path.join(data_dir, bucket, "._S3rver_uploads")
    found = []
    for upload_id in os.listdir(root) if os.path.isdir(root) else []:
        with open(os.path.join(root, upload_id, "key")) as f:
            found.append((f.read(), upload_id))
    return sorted(found), root


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def list_uploads(self, bucket, query):
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        max_uploads = int(query.get("max-uploads", ["1000"])[0])
        marker = (query.get("key-marker", [""])[0], query.get("upload-id-marker", [""])[0])
        uploads, _ = uploads_of(bucket)
        page = [u for u in uploads if u[0].startswith(prefix) and u > marker
                and not (delimiter and delimiter in u[0][len(prefix):])]
        truncated = len(page) > max_uploads
        page = page[:max_uploads]
        xml = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
               "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
               f"<Bucket>{escape(bucket)}</Bucket><Prefix>{escape(prefix)}</Prefix>",
               f"<MaxUploads>{max_uploads}</MaxUploads><IsTruncated>{str(truncated).lower()}</IsTruncated>"]
        if truncated:
            xml.append(f"<NextKeyMarker>{escape(page[-1][0])}</NextKeyMarker>"
                       f"<NextUploadIdMarker>{page[-1][1]}</NextUploadIdMarker>")
        for key, upload_id in page:
            xml.append(f"<Upload><Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId></Upload>")
        xml.append("</ListMultipartUploadsResult>")
        log(f"ListMultipartUploads prefix={prefix} page={len(page)} truncated={truncated}")
        self.reply(200, "".join(xml).encode())

    def abort_upload(self, bucket, key, upload_id):
        uploads, root = uploads_of(bucket)
        if (key, upload_id) not in uploads:
            log(f"AbortMultipartUpload {key} {upload_id}: NoSuchUpload")
            return self.reply(404, b"<Error><Code>NoSuchUpload</Code></Error>")
        shutil.rmtree(os.path.join(root, upload_id))
        log(f"AbortMultipartUpload {key} {upload_id}")
        self.reply(204)

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        bucket, _, key = unquote(url.path).lstrip("/").partition("/")
        if self.command == "GET" and not key and "uploads" in query:
            return self.list_uploads(bucket, query)
        if self.command == "DELETE" and key and "uploadId" in query:
            return self.abort_upload(bucket, key, query["uploadId"][0])
        self.forward()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
log("listening")
server.serve_forever()
