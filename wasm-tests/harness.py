"""Real Envoy with the built module, an upstream that echoes what it received, and real keys
and tokens from the `jwt-policy` tool. Shared by the tests and `make demo`.

Everything listens on 127.0.0.1 only. Paths come from the environment the Makefile sets:
ENVOY_BIN, JWT_POLICY_WASM, JWT_POLICY_BIN.
"""

import datetime
import http.client
import http.server
import json
import os
import pathlib
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENVOY_DIR = ROOT / "envoy"


def _required_path(variable, default):
    path = pathlib.Path(os.environ.get(variable, default))
    if not path.exists():
        raise RuntimeError(f"{variable}={path} does not exist; run through `make test` or `make demo`")
    return path


def envoy_bin():
    return _required_path("ENVOY_BIN", ROOT / ".venv/bin/envoy")


def wasm_path():
    return _required_path("JWT_POLICY_WASM", ROOT / "target/jwt_policy.wasm")


def tool_bin():
    return _required_path("JWT_POLICY_BIN", ROOT / "target/release/jwt-policy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoUpstream:
    """An HTTP server that answers every request with what it received, as JSON:
    {"method", "path", "headers": [[name, value], ...]} (names lower case, duplicates kept)."""

    def __init__(self):
        self.port = free_port()
        self.count = 0
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _echo(self):
                upstream.count += 1
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                body = json.dumps({
                    "method": self.command,
                    "path": self.path,
                    "headers": [[k.lower(), v] for k, v in self.headers.items()],
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _echo

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class JwksServer:
    """An issuer's key set endpoint on 127.0.0.1: serves `document` (a dict) with `status`,
    and counts the fetches."""

    def __init__(self, document=None):
        self.port = free_port()
        self.document = document or {"keys": []}
        self.status = 200
        self.fetches = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.fetches += 1
                body = json.dumps(server.document).encode()
                self.send_response(server.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class Envoy:
    """One Envoy process from a template in envoy/, with its own ports and log."""

    def __init__(self, plugin_config=None, upstream_port=0, template="plugin.yaml", workers=2, extra=None,
                 wasm_log_level="debug"):
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="jwt-policy-envoy-"))
        self.admin_port = free_port()
        self.port = free_port()
        values = {
            "ADMIN_PORT": str(self.admin_port),
            "LISTENER_PORT": str(self.port),
            "UPSTREAM_PORT": str(upstream_port),
            "WASM_PATH": str(wasm_path()),
            "PLUGIN_CONFIG": json.dumps(plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)),
        }
        values.update(extra or {})
        text = (ENVOY_DIR / template).read_text()
        for name, value in values.items():
            text = text.replace(f"@{name}@", value)
        unfilled = re.findall(r"@[A-Z_]+@", text)
        if unfilled:
            raise RuntimeError(f"{template}: no value for {', '.join(sorted(set(unfilled)))}")
        self.bootstrap = self.workdir / "envoy.yaml"
        self.bootstrap.write_text(text)
        self.log_path = self.workdir / "envoy.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(envoy_bin()), "-c", str(self.bootstrap), "--concurrency", str(workers),
             "--disable-hot-restart", "--log-level", "info", "--component-log-level", f"wasm:{wasm_log_level}"],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, "TZ": "UTC"})
        self._wait_ready()

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Envoy exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Envoy not ready after {timeout}s:\n{self.log_tail()}")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines=40):
        """The end of the log, without the long list of extensions Envoy prints first."""
        return "\n".join(line for line in self.log().splitlines() if "statically linked" not in line
                         and "server.cc:467" not in line)[-8000:]

    def stats(self, prefix=""):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats?filter={prefix}") as r:
            return r.read().decode()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def request(self, path="/", headers=(), method="GET"):
        """One request on a new connection; `headers` is a list of (name, value), so a name
        may repeat. Returns a Response."""
        return send(self.port, path, headers, method)


def wasm_filter_config(plugin_config, wasm=None):
    """The typed config of the module as an Envoy HTTP filter (`Wasm`), as JSON."""
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {
            "name": "jwt_policy", "root_id": "jwt_policy",
            "vm_config": {"vm_id": "jwt_policy", "runtime": "envoy.wasm.runtime.v8",
                          "code": {"local": {"filename": str(wasm or wasm_path())}}},
            "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                              "value": plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)},
            "failure_policy": "FAIL_CLOSED",
        },
    }


def wasm_filter(plugin_config, wasm=None):
    """The module as an HTTP filter."""
    return {"name": "jwt_policy", "typed_config": wasm_filter_config(plugin_config, wasm)}


def native_filter(config):
    """Envoy's own jwt_authn with the same JwtAuthentication JSON."""
    return {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        **config}}


ROUTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def cluster(name, port):
    """A plain HTTP/1.1 cluster to one address on 127.0.0.1."""
    return {"name": name, "connect_timeout": "1s", "type": "STATIC",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


class EcdsEnvoy(Envoy):
    """Envoy that takes the module's configuration over ECDS from a watched file, the way a
    sidecar takes a WasmPlugin from istiod. `push` replaces it atomically, as one xDS push."""

    def __init__(self, plugin_config, upstream_port, clusters=(), **kwargs):
        self.ecds_dir = pathlib.Path(tempfile.mkdtemp(prefix="jwt-policy-ecds-"))
        self.ecds_file = self.ecds_dir / "jwt_policy.json"
        self.version = 0
        self._write(plugin_config)
        super().__init__(template="ecds.yaml", extra={
            "UPSTREAM_PORT": str(upstream_port),
            "ECDS_DIR": str(self.ecds_dir), "ECDS_FILE": str(self.ecds_file),
            "CLUSTERS": json.dumps([cluster("upstream", upstream_port), *clusters]),
        }, **kwargs)

    def _write(self, plugin_config):
        self.version += 1
        response = {"version_info": str(self.version), "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": "jwt_policy",
            "typed_config": wasm_filter_config(plugin_config)}]}
        staged = self.ecds_dir / f".staged-{self.version}.json"
        staged.write_text(json.dumps(response))
        os.replace(staged, self.ecds_file)

    def push(self, plugin_config):
        """Replaces the configuration; returns the wall-clock time of the push."""
        pushed = time.time()
        self._write(plugin_config)
        return pushed

    def ecds_stat(self, name):
        """An extension_config_discovery counter of this filter (config_reload, config_fail)."""
        match = re.search(rf"extension_config_discovery\.http_filter\.jwt_policy\.{name}: (\d+)", self.stats(
            "extension_config_discovery"))
        return int(match.group(1)) if match else 0

    def applied(self, generation):
        """(thread id, wall-clock time) of each VM that applied `generation`, from the log."""
        found = {}
        pattern = re.compile(r"^\[(\S+ \S+)\]\[(\d+)\].*configuration applied in [0-9.]+ ms: generation "
                             + re.escape(str(generation)) + r",", re.MULTILINE)
        for match in pattern.finditer(self.log()):
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f")
            found.setdefault(match.group(2), stamp.replace(tzinfo=datetime.timezone.utc).timestamp())
        return found


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        values = [v for k, v in self.headers if k == name]
        return values[0] if values else None

    @property
    def text(self):
        return self.body.decode(errors="replace")

    @property
    def upstream(self):
        """What the upstream received, when the request got there."""
        if self.status != 200:
            return None
        return json.loads(self.body)

    def forwarded(self, name):
        """Every value the upstream received for a header."""
        return [v for k, v in self.upstream["headers"] if k == name]

    def __repr__(self):
        return f"<{self.status} {self.text[:80]!r}>"


def send(port, path="/", headers=(), method="GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Response(response.status, [(k.lower(), v) for k, v in response.getheaders()], body)
    finally:
        connection.close()


def send_h2(port, headers):
    """One HTTP/2 request (prior knowledge, h2c) whose header bytes go out exactly as given,
    which HTTP/1.1 cannot do (it refuses bytes that are not UTF-8 in a path). `headers` is
    a list of (bytes, bytes), pseudo-headers first. Returns the response body; the status is
    inside HPACK, which this client does not decode."""

    def length(data):
        n = len(data)
        if n < 127:
            return bytes([n]) + data
        out, n = bytearray([127]), n - 127
        while n >= 128:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        return bytes(out) + bytes([n]) + data

    def frame(kind, flags, stream, payload):
        return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload

    # Literal header fields without indexing, no Huffman coding (RFC 7541 §6.2.2).
    block = b"".join(b"\x00" + length(name) + length(value) for name, value in headers)
    body = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 0x5, 1, block))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return body
            data += chunk
            while len(data) >= 9 and len(data) >= 9 + int.from_bytes(data[:3], "big"):
                size, kind, flags = int.from_bytes(data[:3], "big"), data[3], data[4]
                stream = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
                payload, data = data[9:9 + size], data[9 + size:]
                if kind == 4 and not flags & 1:
                    s.sendall(frame(4, 1, 0, b""))  # acknowledge the server's SETTINGS
                if stream == 1 and kind == 0:
                    body += payload
                if stream == 1 and kind in (0, 1) and flags & 1:
                    return body
                if kind in (3, 7):  # RST_STREAM, GOAWAY
                    return body


class Keys:
    """Keys and tokens made by the `jwt-policy` tool, kept in a temporary folder."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="jwt-policy-keys-"))
        self._files = {}

    def _tool(self, *args):
        result = subprocess.run([str(tool_bin()), *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"jwt-policy {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def key(self, alg, kid):
        """The private key file for (alg, kid), made on first use."""
        name = (alg, kid)
        if name not in self._files:
            path = self.dir / f"{alg}-{kid}.json"
            path.write_text(self._tool("keygen", "--alg", alg, "--kid", kid))
            self._files[name] = path
        return self._files[name]

    def jwks(self, *keys):
        """The public key set of the given (alg, kid) keys, as a dict."""
        return json.loads(self._tool("jwks", *[str(self.key(alg, kid)) for alg, kid in keys]))

    def private_jwk(self, alg, kid):
        return json.loads(self.key(alg, kid).read_text())

    def token(self, alg, kid, claims, header=None, token_kid=None, no_kid=False):
        """A token signed by key (alg, kid). `claims` and `header` (dicts or exact text) are
        signed as given; `token_kid` puts another kid in the standard header."""
        args = ["mint", "--key", str(self.key(alg, kid)), "--alg", alg,
                "--claims", claims if isinstance(claims, str) else json.dumps(claims)]
        if header is not None:
            args += ["--header", header if isinstance(header, str) else json.dumps(header)]
        if token_kid is not None:
            args += ["--kid", token_kid]
        if no_kid:
            args += ["--no-kid"]
        return self._tool(*args)
