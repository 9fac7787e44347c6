"""SigV4 (AWS4-HMAC-SHA256) verification of a raw HTTP request (stdlib only).

    v = Verifier({"AKID": ("secret", None)}, region="us-east-1",
                 service="codedeploy-commands")
    err = v.verify(method, raw_target, header_pairs, body, now=time.time())
    # err is None when the signature is good, else an AuthError with the
    # AWS error type (__type), message and debugging detail.

The canonical request is rebuilt from what came over the wire, following
the AWS rules for non-S3 services (the same ones botocore signs with):
  - URI: the request-line path, dot and empty segments removed, then
    URI-encoded once more (double encoding);
  - query: split on '&' and the first '=', decoded, re-encoded with only
    unreserved characters bare, sorted;
  - headers: the names listed in SignedHeaders (lowercase, sorted, must
    include host and x-amz-date, and x-amz-security-token when the
    credentials carry a session token), values trimmed and inner runs of
    blanks collapsed, repeated headers joined with ',';
  - payload hash: X-Amz-Content-Sha256 when sent (it must equal the
    SHA-256 of the body), else the SHA-256 of the body.
"""
import datetime
import hashlib
import hmac
import re
from urllib.parse import quote, unquote

ALGO = "AWS4-HMAC-SHA256"
MAX_SKEW = 300  # seconds

BAD_SIG_MSG = ("The request signature we calculated does not match the signature "
               "you provided. Check your AWS Secret Access Key and signing method. "
               "Consult the service documentation for details.")


class AuthError(Exception):
    def __init__(self, type_, message, detail=None):
        super().__init__(message)
        self.type = type_
        self.message = message
        self.detail = detail or {}


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


def _hmac(k, m):
    return hmac.new(k, m.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def normalize_path(path):
    """RFC 3986 5.2.4 dot-segment removal, empty segments dropped, as botocore."""
    if not path:
        return "/"
    segs = []
    for s in path.split("/"):
        if s in ("", "."):
            continue
        if s == "..":
            if segs:
                segs.pop()
            continue
        segs.append(s)
    out = "/" + "/".join(segs)
    if path.endswith("/") and out != "/":
        out += "/"
    return out


def canonical_uri(raw_path):
    return quote(normalize_path(raw_path), safe="/~")


def canonical_query(raw_query):
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


_WS = re.compile(r"\s+")


def canonical_header_value(values):
    return ",".join(_WS.sub(" ", v.strip()) for v in values)


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...' -> dict."""
    value = value.strip()
    if not value.startswith(ALGO + " "):
        raise AuthError("IncompleteSignatureException",
                        "Unsupported Authorization scheme; expected %s" % ALGO)
    fields = {}
    for part in value[len(ALGO) + 1:].split(","):
        part = part.strip()
        if not part:
            continue
        k, eq, v = part.partition("=")
        if not eq:
            raise AuthError("IncompleteSignatureException",
                            "Authorization header requires each component to be "
                            "of the form key=value: '%s'" % part)
        fields[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise AuthError("IncompleteSignatureException",
                        "Authorization header requires %s parameter(s). "
                        "Authorization=%s" % (", ".join("'%s'" % m for m in missing), value))
    return fields


class Verifier:
    def __init__(self, creds, region, service, max_skew=MAX_SKEW):
        """creds: {access_key_id: (secret, session_token_or_None)}"""
        self.creds = creds
        self.region = region
        self.service = service
        self.max_skew = max_skew

    def verify(self, method, target, headers, body, now):
        """headers: list of (name, value) as received. Returns None or AuthError.

        The dict returned in AuthError.detail (and in self.last) carries the
        canonical request and string to sign that were computed.
        """
        try:
            self._verify(method, target, headers, body, now)
            return None
        except AuthError as e:
            return e

    def _verify(self, method, target, headers, body, now):
        hmap = {}
        for name, value in headers:
            hmap.setdefault(name.lower(), []).append(value)

        def one(name):
            v = hmap.get(name)
            return v[0].strip() if v else None

        auth = one("authorization")
        if auth is None:
            raise AuthError("MissingAuthenticationTokenException",
                            "Missing Authentication Token")
        f = parse_authorization(auth)

        cred = f["Credential"].split("/")
        if len(cred) != 5:
            raise AuthError("IncompleteSignatureException",
                            "Credential must have exactly 5 slash-delimited elements, "
                            "e.g. keyid/date/region/service/term, got '%s'" % f["Credential"])
        akid, cdate, cregion, cservice, term = cred
        if akid not in self.creds:
            raise AuthError("UnrecognizedClientException",
                            "The security token included in the request is invalid.")
        secret, token = self.creds[akid]

        signed = f["SignedHeaders"].split(";")
        if any(h != h.lower() or not h for h in signed) or signed != sorted(signed):
            raise AuthError("IncompleteSignatureException",
                            "SignedHeaders must be lowercase, sorted and ';'-separated: '%s'"
                            % f["SignedHeaders"])
        for req in ("host", "x-amz-date"):
            if req not in signed:
                raise AuthError("IncompleteSignatureException",
                                "'%s' must be a signed header. SignedHeaders=%s"
                                % (req, f["SignedHeaders"]))
        for h in signed:
            if h not in hmap:
                raise AuthError("IncompleteSignatureException",
                                "Signed header '%s' is not in the request" % h)

        # session token
        sent_token = one("x-amz-security-token")
        if token is not None:
            if sent_token is None:
                raise AuthError("UnrecognizedClientException",
                                "The security token included in the request is invalid.",
                                {"why": "no X-Amz-Security-Token, but the key has a session token"})
            if "x-amz-security-token" not in signed:
                raise AuthError("IncompleteSignatureException",
                                "'x-amz-security-token' must be a signed header. "
                                "SignedHeaders=%s" % f["SignedHeaders"])
            if not hmac.compare_digest(sent_token, token):
                raise AuthError("UnrecognizedClientException",
                                "The security token included in the request is invalid.")
        elif sent_token is not None:
            raise AuthError("UnrecognizedClientException",
                            "The security token included in the request is invalid.",
                            {"why": "X-Amz-Security-Token sent for a key without a session token"})

        # date and scope
        amzdate = one("x-amz-date")
        try:
            t = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except (TypeError, ValueError):
            raise AuthError("IncompleteSignatureException",
                            "Date must be in ISO-8601 'basic format'. Got '%s'." % amzdate)
        if cdate != amzdate[:8]:
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped to a valid date, not '%s'; "
                            "X-Amz-Date is %s" % (cdate, amzdate))
        if cregion != self.region:
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped to a valid region, not '%s'. "
                            % cregion)
        if cservice != self.service:
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped to correct service: '%s'. "
                            % self.service)
        if term != "aws4_request":
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped with a valid terminator: "
                            "'aws4_request', not '%s'." % term)
        ts = t.timestamp()
        if abs(now - ts) > self.max_skew:
            fmt = lambda x: datetime.datetime.fromtimestamp(x, datetime.timezone.utc).strftime(
                "%Y%m%dT%H%M%SZ")
            if ts < now:
                msg = ("Signature expired: %s is now earlier than %s (%s - 5 min.)"
                       % (amzdate, fmt(now - self.max_skew), fmt(now)))
            else:
                msg = ("Signature not yet current: %s is still later than %s (%s + 5 min.)"
                       % (amzdate, fmt(now + self.max_skew), fmt(now)))
            raise AuthError("InvalidSignatureException", msg)

        # payload
        body_hash = _sha256(body)
        sent_hash = one("x-amz-content-sha256")
        if sent_hash is not None and sent_hash != body_hash:
            raise AuthError("InvalidSignatureException",
                            "The provided 'x-amz-content-sha256' header does not match "
                            "what was computed.", {"computed": body_hash, "sent": sent_hash})

        path, _, query = target.partition("?")
        if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
            raise AuthError("IncompleteSignatureException",
                            "Query-string (presigned) authentication is not supported here")
        creq = "\n".join([
            method,
            canonical_uri(path),
            canonical_query(query),
            "".join("%s:%s\n" % (h, canonical_header_value(hmap[h])) for h in signed),
            f["SignedHeaders"],
            sent_hash if sent_hash is not None else body_hash,
        ])
        scope = "/".join([cdate, cregion, cservice, term])
        sts = "\n".join([ALGO, amzdate, scope, _sha256(creq.encode())])
        want = hmac.new(signing_key(secret, cdate, cregion, cservice), sts.encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, f["Signature"]):
            raise AuthError("InvalidSignatureException",
                            BAD_SIG_MSG + "\n\nThe Canonical String for this request should "
                            "have been\n'" + creq + "'\n\nThe String-to-Sign should have been\n'"
                            + sts + "'\n",
                            {"canonical_request": creq, "string_to_sign": sts})
