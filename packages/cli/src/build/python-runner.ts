/**
 * The stdlib-only wrapper that serves `handler(event, context)` from /app/handler.py over HTTP
 * on $PORT (baked into /thaw/runner.py). The event has the Node handler's request shape; the
 * contract is in docs/languages.md.
 */
export const PYTHON_RUNNER = `# Made by "thaw build": serves handler(event, context) of /app/handler.py over HTTP on $PORT.
import asyncio, inspect, json, os, sys, time, traceback, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, "/app")
try:
    import handler as _module
except Exception:
    traceback.print_exc()
    print("thaw: /app/handler.py failed to import", file=sys.stderr)
    sys.exit(1)
_handler = getattr(_module, "handler", None)
if not callable(_handler):
    print("thaw: /app/handler.py defines no handler(event, context) function", file=sys.stderr)
    sys.exit(1)

FUNCTION_NAME = os.environ.get("THAW_FUNCTION_NAME") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "function"
TIMEOUT_MS = int(os.environ.get("THAW_TIMEOUT_MS") or 30000)


class Context:
    """What a call knows about itself: Lambda's names, so that ported code keeps working."""

    def __init__(self, request_id, deadline_ms):
        self.function_name = FUNCTION_NAME
        self.request_id = self.aws_request_id = request_id
        self.deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self.deadline_ms - time.time() * 1000))


def _encode(out):
    """(status, headers, body bytes) of what the handler returned."""
    if out is None:
        return 200, {}, b""
    # A dict is a response when it says so (Lambda's rule, plus thaw's "status" and "body"):
    # any other value, a dict of data included, is the JSON body of a 200.
    if isinstance(out, dict) and out.keys() & {"status", "statusCode", "body"}:
        status = int(out.get("status", out.get("statusCode", 200)))
        headers = {str(k): str(v) for k, v in (out.get("headers") or {}).items()}
        body = out.get("body", b"")
    else:
        status, headers, body = 200, {}, out
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/json"
    return status, headers, bytes(body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\\r\\n", b"\\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _serve(self):
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        event = {
            "method": self.command,
            "path": url.path,
            "query": dict(parse_qsl(url.query, keep_blank_values=True)),
            "headers": headers,
            "body": self._read_body(),
        }
        # Not from request headers: a caller must not set another call's id or its own deadline.
        request_id = str(uuid.uuid4())
        deadline_ms = time.time() * 1000 + TIMEOUT_MS
        try:
            out = _handler(event, Context(request_id, deadline_ms))
            if inspect.isawaitable(out):
                out = asyncio.run(out)
            status, out_headers, body = _encode(out)
        except Exception as err:
            traceback.print_exc()
            status, out_headers = 500, {"content-type": "application/json"}
            body = json.dumps({"error": str(err), "type": type(err).__name__}).encode()
        self.send_response(status)
        for k, v in out_headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format, *args):
        pass  # the platform logs calls; a line per request would drown the handler's own


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
`;
