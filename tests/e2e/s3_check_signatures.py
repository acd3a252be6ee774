#!/usr/bin/python3
"""Recomputes, with botocore's signer, the SigV4 signature of every request
moonbak sent (the MOONBAK_S3_TRACE file), and checks that moonbak encodes
keys and query values as botocore does.

usage: s3_check_signatures.py TRACE SECRET_KEY TOKEN KIND...
TOKEN is "-" when there is none; the access key of each request is read
from its Credential (it is no secret).  Prints one "ok - ..." / "not ok - ..."
line per kind of request, and a "not ok" for each KIND that was required
but never seen in the trace."""
import json
import sys
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

trace, secret, token = sys.argv[1:4]
token = None if token == "-" else token
required = sys.argv[4:]


def kind_of(method, path, query):
    names = {pair.partition("=")[0] for pair in query.split("&") if pair}
    if method == "POST" and "uploads" in names:
        return "CreateMultipartUpload"
    if method == "PUT" and "partNumber" in names:
        return "UploadPart"
    if method == "POST" and "uploadId" in names:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in names:
        return "AbortMultipartUpload"
    if method == "GET" and "uploads" in names:
        return "ListMultipartUploads"
    if method == "GET" and "list-type" in names:
        return "ListObjectsV2"
    return {"PUT": "PutObject", "GET": "GetObject", "DELETE": "DeleteObject"}.get(method, method)


def botocore_authorization(record):
    headers = dict(record["headers"])
    if "x-amz-security-token" in headers:
        headers["x-amz-security-token"] = token  # the trace never holds it
    request = AWSRequest(method=record["method"], url=record["url"], headers=headers)
    request.context["timestamp"] = headers["x-amz-date"]
    access = record["authorization"].split("Credential=", 1)[1].split("/", 1)[0]
    auth = S3SigV4Auth(Credentials(access, secret, token), "s3", record["region"])
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    return f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, SignedHeaders={signed}, Signature={signature}"


def encoded_as_botocore_does(url):
    """botocore quotes keys with safe='/~' and query values with safe='-_.~'."""
    parts = urlsplit(url)
    if quote(unquote(parts.path), safe="/~") != parts.path:
        return False
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        if quote(unquote(key), safe="-_.~") != key or quote(unquote(value), safe="-_.~") != value:
            return False
    return True


seen, bad = {}, {}
for line in open(trace):
    record = json.loads(line)
    parts = urlsplit(record["url"])
    kinds = [kind_of(record["method"], parts.path, parts.query)]
    if "%20" in parts.path:
        kinds.append("key with a space")
    if "%C3" in parts.path or "%E2" in parts.path:
        kinds.append("key with non-ASCII characters")
    if "x-amz-security-token" in record["headers"]:
        kinds.append("session token")
    good = botocore_authorization(record) == record["authorization"]
    good = good and encoded_as_botocore_does(record["url"])
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        if not good:
            bad.setdefault(kind, record["method"] + " " + record["url"])

for kind in sorted(seen):
    name = f"botocore computes the same signature for {kind} ({seen[kind]} requests)"
    if kind in bad:
        print(f"not ok - {name}: differs for {bad[kind]}")
    else:
        print(f"ok - {name}")
for kind in required:
    if kind not in seen:
        print(f"not ok - the trace has no {kind} request to check")
