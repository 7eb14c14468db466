"""Mutual TLS on the SDK's connections (gale.tls): a component and submit
pick up GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY (or tls=), connect to
a TLS server that requires a client certificate, and are refused by it
without one; unusable files give a message naming them.

The certificates are made at test time with the openssl command (a CA with
an EC P-256 key, a server certificate for 127.0.0.1 and localhost, client
certificates), plus a second CA that the server does not trust.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import grpc
import pytest
from google.protobuf import json_format

import gale
from gale.v1 import attach_pb2, coordinator_pb2, coordinator_pb2_grpc
from fakenode import FakeNode, events_of, json_frame

HERE = Path(__file__).resolve().parent
CONF_BOLT = HERE / "components" / "conf_bolt.py"
WELCOME_JSON = HERE.parent.parent / "conformance" / "welcome.json"
TLS_VARS = ("GALE_TLS_CA", "GALE_TLS_CERT", "GALE_TLS_KEY")
#: A refused client must give up within this (connect_timeout below, plus
#: a margin); the test fails rather than hang.
REFUSED_CONNECT_S = 1.5
JOIN_S = 15.0


# -- certificates ------------------------------------------------------------


@dataclass
class PKI:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    #: A CA the server does not trust, and a client certificate it signed.
    other_ca: Path
    other_cert: Path
    other_key: Path

    def env(self, cert: bool = True) -> dict[str, str]:
        env = {"GALE_TLS_CA": str(self.ca)}
        if cert:
            env.update(GALE_TLS_CERT=str(self.client_cert), GALE_TLS_KEY=str(self.client_key))
        return env

    def server_credentials(self) -> grpc.ServerCredentials:
        """What a node with --tls-cert/--tls-key/--tls-ca serves with: its
        certificate, and only clients whose certificate the CA signed."""
        return grpc.ssl_server_credentials(
            [(self.server_key.read_bytes(), self.server_cert.read_bytes())],
            root_certificates=self.ca.read_bytes(),
            require_client_auth=True,
        )


def _openssl(d: Path, *args: str) -> None:
    p = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed ({p.returncode}):\n{p.stderr}", pytrace=False)


def _ca(d: Path, name: str) -> None:
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")
    _openssl(
        d, "req", "-x509", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-days", "2", "-out", f"{name}.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def _leaf(d: Path, name: str, ca: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions)
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")
    _openssl(d, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr")
    _openssl(
        d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-set_serial", "0x" + os.urandom(8).hex(), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
    )  # fmt: skip


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    if shutil.which("openssl") is None:
        pytest.fail(
            "the TLS tests make their certificates with the openssl command-line tool, which is not on PATH: "
            "install OpenSSL (Debian: apt-get install openssl)",
            pytrace=False,
        )
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "gale-test-ca")
    _leaf(
        d, "gale-test-node", "gale-test-ca",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )  # fmt: skip
    _leaf(d, "gale-test-client", "gale-test-ca", "extendedKeyUsage=clientAuth\n")
    _ca(d, "other-ca")
    _leaf(d, "other-client", "other-ca", "extendedKeyUsage=clientAuth\n")
    return PKI(
        dir=d,
        ca=d / "gale-test-ca.pem",
        server_cert=d / "gale-test-node.pem",
        server_key=d / "gale-test-node.key",
        client_cert=d / "gale-test-client.pem",
        client_key=d / "gale-test-client.key",
        other_ca=d / "other-ca.pem",
        other_cert=d / "other-client.pem",
        other_key=d / "other-client.key",
    )


@pytest.fixture(autouse=True)
def no_tls_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without GALE_TLS_* (whatever the shell had)."""
    for name in TLS_VARS:
        monkeypatch.delenv(name, raising=False)


# -- a bolt against the fake node --------------------------------------------

WELCOME = attach_pb2.TaskContext(topology="t", topology_id="t-1", component="c", task_id=3, heartbeat_millis=1000)
WELCOME.component_tasks["src"].ids.append(1)
WELCOME.component_tasks["c"].ids.append(3)
WELCOME.outputs.add(id="default", fields=["word"])
WELCOME.source_fields["src:default"].names.append("cmd")


class Upper(gale.Bolt):
    def execute(self, tup):
        self.emit([tup["cmd"].upper()], tup)
        self.ack(tup)


class Served:
    """gale.serve in a thread; error is its AttachError, if any."""

    def __init__(self, options: Optional[gale.AttachOptions] = None, **kwargs) -> None:
        self.error: Optional[gale.AttachError] = None
        self.thread = threading.Thread(target=self._serve, args=(options, kwargs), daemon=True)
        self.thread.start()

    def _serve(self, options: Optional[gale.AttachOptions], kwargs: dict) -> None:
        try:
            gale.serve(Upper(), options, **kwargs)
        except gale.AttachError as e:
            self.error = e

    def join(self) -> None:
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive(), f"serve still running after {JOIN_S} s"


def attach_env(monkeypatch: pytest.MonkeyPatch, node: FakeNode, tls: dict[str, str]) -> None:
    """The environment of a managed process, through os.environ."""
    for k, v in dict(tls, GALE_ATTACH_ADDR=node.addr, GALE_TOPOLOGY="t", GALE_COMPONENT="c", GALE_TASK_ID="3").items():
        monkeypatch.setenv(k, v)


def exchange(node: FakeNode, served: Served) -> None:
    """hello, welcome, one input processed (emit + ack), a clean end."""
    r = node.recv(10)
    assert r is not None and r.frame is not None, f"no hello (serve error: {served.error})"
    assert r.frame.WhichOneof("frame") == "hello" and r.frame.hello.task_id == 3
    node.send(attach_pb2.AttachResponse(welcome=WELCOME))
    node.send(json_frame({"inputs": [{"id": 7, "stream": "default", "source_task": 1, "values": ["tls"]}]}))
    got: list = []
    while len(got) < 2:
        r = node.recv(5)
        assert r is not None and r.frame is not None, f"stream ended or silent with {got}"
        got.extend(events_of(r.frame))
    assert got == [("emit", "default", (("string_value", "TLS"),), frozenset({7}), 0, 0), ("ack", 7)]
    node.close()
    served.join()
    assert served.error is None


def refused(node: FakeNode) -> gale.AttachError:
    """Serves against node (as os.environ says), which must refuse the
    connection: serve gives up with AttachError within the connect
    timeout, and no Attach call ever reached the node."""
    opts = gale.AttachOptions.resolve()
    opts.connect_timeout = REFUSED_CONNECT_S
    start = time.monotonic()
    s = Served(opts)
    s.join()
    assert s.error is not None, "serve returned without error: the connection was not refused"
    assert time.monotonic() - start < REFUSED_CONNECT_S + 5
    assert not node.attached.is_set(), "the TLS server accepted the stream"
    return s.error


# -- the component -----------------------------------------------------------


def test_component_attaches_over_mutual_tls_from_the_environment(pki, monkeypatch):
    with FakeNode(pki.server_credentials()) as node:
        attach_env(monkeypatch, node, pki.env())
        exchange(node, Served())
        # the server saw the client's certificate, not just a TLS channel
        assert node.peers == [b"gale-test-client"]


def test_managed_process_speaks_tls_with_no_code_change(pki, tmp_path):
    """A component script run as a node runs it: the conformance bolt, with
    the variables a node with TLS sets for it."""
    welcome = json_format.ParseDict(json.loads(WELCOME_JSON.read_text())["bolt"], attach_pb2.TaskContext())
    with FakeNode(pki.server_credentials()) as node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GALE_")}
        env.update(
            pki.env(),
            GALE_ATTACH_ADDR=node.addr,
            GALE_TOPOLOGY="conformance",
            GALE_COMPONENT=welcome.component,
            GALE_TASK_ID=str(welcome.task_id),
            PYTHONUNBUFFERED="1",
        )
        with open(tmp_path / "out.txt", "wb") as out:
            proc = subprocess.Popen([sys.executable, str(CONF_BOLT)], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            try:
                r = node.recv(15)
                assert r is not None and r.frame is not None and r.frame.WhichOneof("frame") == "hello", (
                    (tmp_path / "out.txt").read_text()
                )
                node.send(attach_pb2.AttachResponse(welcome=welcome))
                node.send(json_frame({"inputs": [{"id": 5, "source_task": 1, "values": ["emit", "secure", 0]}]}))
                got: list = []
                while len(got) < 2:
                    r = node.recv(5)
                    assert r is not None and r.frame is not None, f"stream ended or silent with {got}"
                    got.extend(events_of(r.frame))
                assert got == [("emit", "default", (("string_value", "secure"),), frozenset({5}), 0, 0), ("ack", 5)]
                node.close()
                assert proc.wait(10) == 0, (tmp_path / "out.txt").read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
        assert node.peers == [b"gale-test-client"]


def test_tls_argument_wins_over_the_environment(pki, monkeypatch):
    with FakeNode(pki.server_credentials()) as node:
        attach_env(monkeypatch, node, {"GALE_TLS_CA": str(pki.dir / "missing.pem")})
        tls = gale.TLSFiles(ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
        exchange(node, Served(tls=tls))
        assert node.peers == [b"gale-test-client"]


def test_empty_tls_argument_is_plaintext_whatever_the_environment_says(pki, monkeypatch):
    with FakeNode() as node:  # a plaintext node
        attach_env(monkeypatch, node, pki.env())
        assert gale.AttachOptions.resolve(tls=gale.TLSFiles()).tls is None
        exchange(node, Served(tls=gale.TLSFiles()))


def test_no_tls_variables_is_plaintext_as_before():
    base = {"GALE_ATTACH_ADDR": "h:1", "GALE_TOPOLOGY": "t", "GALE_COMPONENT": "c"}
    assert gale.AttachOptions.resolve(base).tls is None
    assert gale.AttachOptions.resolve(dict(base, GALE_TLS_CA="", GALE_TLS_CERT="", GALE_TLS_KEY="")).tls is None
    o = gale.AttachOptions.resolve(dict(base, GALE_TLS_CA="/c.pem"))
    assert o.tls == gale.TLSFiles(ca="/c.pem")


def test_a_client_without_a_certificate_is_refused(pki, monkeypatch):
    with FakeNode(pki.server_credentials()) as node:
        attach_env(monkeypatch, node, pki.env(cert=False))
        err = refused(node)
    assert str(err) == (
        f"cannot connect to the node at {node.addr} within {REFUSED_CONNECT_S:g} s over TLS "
        f"(GALE_TLS_CA={pki.ca}, no client certificate: a node with TLS refuses a client that presents none)"
    )


def test_a_plaintext_client_is_refused(pki, monkeypatch):
    with FakeNode(pki.server_credentials()) as node:
        attach_env(monkeypatch, node, {})
        err = refused(node)
    assert str(err) == (
        f"cannot connect to the node at {node.addr} within {REFUSED_CONNECT_S:g} s "
        "(is a node up there? one that requires TLS needs GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY)"
    )


def test_a_certificate_from_another_ca_is_refused(pki, monkeypatch):
    with FakeNode(pki.server_credentials()) as node:
        attach_env(
            monkeypatch, node, {"GALE_TLS_CA": str(pki.ca), "GALE_TLS_CERT": str(pki.other_cert), "GALE_TLS_KEY": str(pki.other_key)}
        )
        err = refused(node)
    assert f"over TLS (GALE_TLS_CA={pki.ca}, GALE_TLS_CERT={pki.other_cert})" in str(err)


def test_the_client_verifies_the_node_certificate(pki, monkeypatch):
    """A CA that did not sign the node's certificate: the client refuses
    the node (its certificate would have been accepted)."""
    with FakeNode(pki.server_credentials()) as node:
        attach_env(
            monkeypatch, node, {"GALE_TLS_CA": str(pki.other_ca), "GALE_TLS_CERT": str(pki.client_cert), "GALE_TLS_KEY": str(pki.client_key)}
        )
        err = refused(node)
    assert "cannot connect" in str(err) and f"GALE_TLS_CA={pki.other_ca}" in str(err)


# -- files that cannot be used -----------------------------------------------


def _bad_cases():
    """(files: {field: <a PKI attribute, or a name in the PKI dir>}, the
    message's start, where $ca, $cert, $key stand for the names of the
    files (variables or argument) and <ref> for the path of ref)."""
    return [
        ({"ca": "ca", "cert": "missing.pem", "key": "client_key"}, "$cert=<missing.pem>: cannot read: No such file or directory"),
        ({"ca": "missing.pem"}, "$ca=<missing.pem>: cannot read: No such file or directory"),
        ({"ca": "ca", "cert": "client_cert", "key": "."}, "$key=<.>: cannot read: Is a directory"),
        ({"ca": "ca", "cert": "client_cert"}, "$cert=<client_cert> is set but $key is not: a client certificate goes with its private key"),
        ({"ca": "ca", "key": "client_key"}, "$key=<client_key> is set but $cert is not: a private key goes with its client certificate"),
        ({"cert": "client_cert", "key": "client_key"}, "$cert and $key are set but $ca is not: TLS needs the CA that signed the node's certificate"),
        ({"ca": "empty.pem"}, "$ca=<empty.pem>: no PEM certificate in the file"),
        ({"ca": "ca", "cert": "client_key", "key": "client_key"}, "$cert=<client_key>: no PEM certificate in the file"),
        ({"ca": "ca", "cert": "client_cert", "key": "client_cert"}, "$key=<client_cert>: no PEM private key in the file"),
        (
            {"ca": "ca", "cert": "client_cert", "key": "server_key"},
            "$cert=<client_cert>, $key=<server_key>: the private key does not belong to the certificate",
        ),
        ({"ca": "ca", "cert": "client_cert", "key": "encrypted.key"}, "$key=<encrypted.key>: the private key is encrypted"),
    ]


def _path_of(pki: PKI, ref: str) -> str:
    return str(getattr(pki, ref)) if ref in PKI.__dataclass_fields__ else str(pki.dir / ref)


@pytest.fixture
def bad_files(pki):
    (pki.dir / "empty.pem").write_bytes(b"")
    if not (pki.dir / "encrypted.key").exists():
        _openssl(pki.dir, "pkey", "-in", str(pki.client_key), "-aes256", "-passout", "pass:x", "-out", "encrypted.key")
    return pki


NAMES = {
    "env": {"ca": "GALE_TLS_CA", "cert": "GALE_TLS_CERT", "key": "GALE_TLS_KEY"},
    "arg": {"ca": "tls.ca", "cert": "tls.cert", "key": "tls.key"},
}


@pytest.mark.parametrize("origin", ["env", "arg"])
@pytest.mark.parametrize("files,message", _bad_cases())
def test_unusable_tls_files_are_named_in_the_error(bad_files, origin, files, message):
    paths = {field: _path_of(bad_files, ref) for field, ref in files.items()}
    want = message
    for ref in files.values():
        want = want.replace(f"<{ref}>", _path_of(bad_files, ref))
    for field, name in NAMES[origin].items():
        want = want.replace(f"${field}", name)
    base = {"GALE_ATTACH_ADDR": "127.0.0.1:1", "GALE_TOPOLOGY": "t", "GALE_COMPONENT": "c"}
    if origin == "env":
        opts = gale.AttachOptions.resolve(dict(base, **{NAMES["env"][f]: p for f, p in paths.items()}))
    else:
        opts = gale.AttachOptions.resolve(base, tls=gale.TLSFiles(**paths))
    opts.connect_timeout = 30  # a dial would show as a slow test; none must happen
    start = time.monotonic()
    with pytest.raises(gale.AttachError) as ei:
        gale.serve(Upper(), opts)
    assert time.monotonic() - start < 5
    assert str(ei.value).startswith(want), f"got {str(ei.value)!r}\nwant {want!r}..."


def test_run_prints_one_line_for_an_unreadable_file(pki):
    missing = pki.dir / "no-such-dir" / "client.pem"
    env = {
        "PATH": "/usr/bin:/bin",
        "GALE_ATTACH_ADDR": "127.0.0.1:1",
        "GALE_TOPOLOGY": "t",
        "GALE_COMPONENT": "split",
        "GALE_TLS_CA": str(pki.ca),
        "GALE_TLS_CERT": str(missing),
        "GALE_TLS_KEY": str(pki.client_key),
    }
    p = subprocess.run(
        [sys.executable, "-c", "import gale; gale.run(gale.Bolt())"], env=env, capture_output=True, text=True, timeout=30
    )
    assert p.returncode == 1
    assert p.stderr == f"gale: split: GALE_TLS_CERT={missing}: cannot read: No such file or directory\n"


def test_tls_must_be_tls_files():
    with pytest.raises(TypeError, match="tls must be a gale.TLSFiles, got dict"):
        gale.AttachOptions.resolve({"GALE_ATTACH_ADDR": "h:1", "GALE_TOPOLOGY": "t", "GALE_COMPONENT": "c"}, tls={"ca": "x"})


# -- submit ------------------------------------------------------------------


class Coordinator(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(self) -> None:
        self.peers: list[bytes] = []

    def SubmitTopology(self, request, context):  # noqa: N802
        self.peers.append(b"".join(context.auth_context().get("x509_common_name", [])))
        return coordinator_pb2.SubmitTopologyResponse(id=request.spec.name + "-1")


def _coordinator(creds: Optional[grpc.ServerCredentials]):
    server = grpc.server(futures.ThreadPoolExecutor(2))
    fake = Coordinator()
    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(fake, server)
    if creds is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, fake, f"127.0.0.1:{port}"


@pytest.fixture
def tls_coordinator(pki):
    server, fake, addr = _coordinator(pki.server_credentials())
    yield fake, addr
    server.stop(0)


@pytest.fixture
def plain_coordinator():
    server, fake, addr = _coordinator(None)
    yield fake, addr
    server.stop(0)


def spec():
    b = gale.TopologyBuilder("tlsdemo")
    b.set_spout("s", attached=True).output("default", ["x"])
    return b.build()


def test_submit_over_mutual_tls_from_the_environment(pki, tls_coordinator, monkeypatch):
    fake, addr = tls_coordinator
    for k, v in pki.env().items():
        monkeypatch.setenv(k, v)
    assert gale.submit(addr, spec(), timeout=10) == "tlsdemo-1"
    assert fake.peers == [b"gale-test-client"]


def test_submit_with_the_tls_argument(pki, tls_coordinator, monkeypatch):
    fake, addr = tls_coordinator
    monkeypatch.setenv("GALE_TLS_CA", str(pki.other_ca))  # ignored: the argument wins
    tls = gale.TLSFiles(ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key))
    assert gale.submit(addr, spec(), timeout=10, tls=tls) == "tlsdemo-1"
    assert fake.peers == [b"gale-test-client"]


@pytest.mark.parametrize("cert", [False, True], ids=["plaintext", "no-client-cert"])
def test_submit_is_refused_by_a_tls_node_without_a_client_certificate(pki, tls_coordinator, monkeypatch, cert):
    fake, addr = tls_coordinator
    if cert:  # CA only: TLS, but nothing to present
        monkeypatch.setenv("GALE_TLS_CA", str(pki.ca))
    start = time.monotonic()
    with pytest.raises(gale.SubmitError) as ei:
        gale.submit(addr, spec(), timeout=5)
    assert time.monotonic() - start < 10
    assert ei.value.code == "UNAVAILABLE", str(ei.value)
    hint = f" (over TLS: GALE_TLS_CA={pki.ca}, no client certificate: a node with TLS refuses a client that presents none)"
    if not cert:
        hint = " (is a node up there? one that requires TLS needs GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY)"
    assert str(ei.value).endswith(hint), str(ei.value)
    assert fake.peers == []


def test_submit_with_unusable_tls_files_names_them(pki, monkeypatch):
    missing = pki.dir / "missing-key.pem"
    for k, v in dict(pki.env(), GALE_TLS_KEY=str(missing)).items():
        monkeypatch.setenv(k, v)
    with pytest.raises(gale.SubmitError) as ei:
        gale.submit("127.0.0.1:1", spec(), timeout=30)
    assert ei.value.code == "INVALID_ARGUMENT"
    assert str(ei.value) == (
        f"submit topology 'tlsdemo' to 127.0.0.1:1: GALE_TLS_KEY={missing}: cannot read: No such file or directory"
    )


def test_submit_given_channel_wins_over_tls(pki, plain_coordinator, monkeypatch):
    fake, addr = plain_coordinator
    monkeypatch.setenv("GALE_TLS_CA", str(pki.dir / "missing.pem"))  # not even read
    with grpc.insecure_channel(addr) as ch:
        assert gale.submit(addr, spec(), timeout=10, channel=ch, tls=gale.TLSFiles(ca="/nope")) == "tlsdemo-1"
    assert fake.peers == [b""]
