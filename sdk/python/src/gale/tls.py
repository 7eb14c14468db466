"""Mutual TLS on the SDK's gRPC connections (Attach and SubmitTopology).

A node started with ``--tls-cert``, ``--tls-key`` and ``--tls-ca`` serves
its one gRPC port only over TLS, and only to clients that present a
certificate signed by the cluster's CA. A client names three PEM files:

- the CA certificate(s) that signed the node's certificate, which the
  client verifies (against the host of the address it dials: node
  certificates carry IP and DNS subject alternative names);
- its own certificate (chain) and that certificate's private key, which
  it presents. Both or neither: without them the node refuses the client.

:class:`TLSFiles` holds the three paths. ``gale.run``/``gale.serve`` and
``gale.submit`` take one as ``tls=``; when it is not given they read
``GALE_TLS_CA``, ``GALE_TLS_CERT`` and ``GALE_TLS_KEY`` (a node sets these,
with its own files, for the component processes it manages, so a managed
process speaks TLS to its node without a code change). No CA and no
certificate, from either source, is plaintext: exactly the channel the SDK
used before TLS existed.

The files are read, and checked, before anything is dialled, so that a
missing file or a key that does not belong to the certificate is an error
that names the variable (or argument) and the path, not a handshake that
fails somewhere inside gRPC and shows up as a node that cannot be reached.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import grpc

__all__ = ["TLSFiles", "ENV_CA", "ENV_CERT", "ENV_KEY"]

#: The variables that name the files when no ``tls=`` argument is given
#: (the same names the Go SDK and the cluster CLI read).
ENV_CA = "GALE_TLS_CA"
ENV_CERT = "GALE_TLS_CERT"
ENV_KEY = "GALE_TLS_KEY"

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"
_PEM_KEY_END = b"PRIVATE KEY-----"

_StrPath = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files of mutual TLS to a Gale node.

    ``ca``: the CA certificate(s) that signed the node's certificate; TLS is
    on when it is set. ``cert`` and ``key``: the client certificate (chain)
    to present and its private key, both or neither (a node with TLS
    refuses a client that presents none). An empty string is unset, so
    ``TLSFiles()`` is plaintext: pass it to ignore GALE_TLS_* variables.
    """

    ca: _StrPath = ""
    cert: _StrPath = ""
    key: _StrPath = ""
    #: How errors name the files: "tls" for the argument (tls.ca=...),
    #: "GALE_TLS" for the variables (GALE_TLS_CA=...), so that a message
    #: points at what to fix. Set by from_env; not part of equality.
    origin: str = field(default="tls", init=False, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "TLSFiles":
        """The files named by GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY of
        env (os.environ by default); unset or empty variables give empty
        fields. Nothing is read or checked yet."""
        env = os.environ if env is None else env
        f = cls(ca=env.get(ENV_CA, ""), cert=env.get(ENV_CERT, ""), key=env.get(ENV_KEY, ""))
        object.__setattr__(f, "origin", "GALE_TLS")
        return f

    @property
    def enabled(self) -> bool:
        """Whether any file is named: the connection is then TLS, or, when
        the files do not make a usable set, an error before any dial."""
        return bool(_path(self.ca) or _path(self.cert) or _path(self.key))

    def _name(self, which: str) -> str:
        """How errors call one of the files: "ca" -> "GALE_TLS_CA" for the
        environment, "tls.ca" for the argument."""
        if self.origin == "GALE_TLS":
            return {"ca": ENV_CA, "cert": ENV_CERT, "key": ENV_KEY}[which]
        return f"{self.origin}.{which}"

    def _describe(self) -> str:
        """The files, for a message about a connection that failed: the
        handshake's own reason stays inside gRPC (its log), so this says
        what the client offered."""
        ca = f"{self._name('ca')}={_path(self.ca)}"
        if not _path(self.cert):
            return f"{ca}, no client certificate: a node with TLS refuses a client that presents none"
        return f"{ca}, {self._name('cert')}={_path(self.cert)}"

    def _credentials(self) -> Optional[grpc.ChannelCredentials]:
        """Reads and checks the files and returns the channel credentials,
        or None for plaintext (no file named). Raises _TLSProblem naming
        the variable or argument, the path and what is wrong: a file that
        cannot be read or holds no PEM of the right kind, a certificate
        without its key (or a key without its certificate), a certificate
        and key without a CA, a key that does not match its certificate."""
        if not self.enabled:
            return None
        ca, cert, key = _path(self.ca), _path(self.cert), _path(self.key)
        if cert and not key:
            raise _TLSProblem(
                f"{self._name('cert')}={cert} is set but {self._name('key')} is not: "
                "a client certificate goes with its private key (set both, or neither)"
            )
        if key and not cert:
            raise _TLSProblem(
                f"{self._name('key')}={key} is set but {self._name('cert')} is not: "
                "a private key goes with its client certificate (set both, or neither)"
            )
        if not ca:
            raise _TLSProblem(
                f"{self._name('cert')} and {self._name('key')} are set but {self._name('ca')} is not: "
                "TLS needs the CA that signed the node's certificate"
            )
        root = self._read("ca", ca)
        if _PEM_CERT not in root:
            raise _TLSProblem(f"{self._name('ca')}={ca}: no PEM certificate in the file")
        try:
            ssl.create_default_context(cadata=root.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as e:
            raise _TLSProblem(f"{self._name('ca')}={ca}: not a valid PEM certificate: {_reason(e)}") from None
        if not cert:
            return grpc.ssl_channel_credentials(root_certificates=root)
        chain = self._read("cert", cert)
        private = self._read("key", key)
        if _PEM_CERT not in chain:
            raise _TLSProblem(f"{self._name('cert')}={cert}: no PEM certificate in the file")
        if _PEM_KEY_END not in private:
            raise _TLSProblem(f"{self._name('key')}={key}: no PEM private key in the file")
        self._check_pair(cert, key)
        return grpc.ssl_channel_credentials(root_certificates=root, private_key=private, certificate_chain=chain)

    def _read(self, which: str, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise _TLSProblem(f"{self._name(which)}={path}: cannot read: {e.strerror or e}") from None

    def _check_pair(self, cert: str, key: str) -> None:
        """Loads the pair with the ssl module, which gRPC does not do until
        a handshake: a key of another certificate, or an encrypted key
        (gRPC cannot use one), would otherwise surface as a node that
        cannot be reached."""

        def no_password() -> str:
            raise _EncryptedKey

        both = f"{self._name('cert')}={cert}, {self._name('key')}={key}"
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=no_password)
        except _EncryptedKey:
            raise _TLSProblem(
                f"{self._name('key')}={key}: the private key is encrypted; gRPC needs an unencrypted PEM key"
            ) from None
        except ssl.SSLError as e:
            if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e):
                raise _TLSProblem(f"{both}: the private key does not belong to the certificate") from None
            raise _TLSProblem(f"{both}: not a usable certificate and key: {_reason(e)}") from None
        except OSError as e:  # changed or vanished since it was read
            raise _TLSProblem(f"{both}: cannot read: {e.strerror or e}") from None


class _TLSProblem(ValueError):
    """The TLS files are unusable; the message says which and why. The
    runner raises it again as AttachError and submit as SubmitError, so
    that each caller sees its own error type."""


class _EncryptedKey(Exception):
    pass


def _path(p: _StrPath) -> str:
    return os.fspath(p) if p else ""


def _reason(e: Exception) -> str:
    """OpenSSL's reason ("NO_CERTIFICATE_OR_CRL_FOUND"), else the message."""
    reason = getattr(e, "reason", None)
    return reason if isinstance(reason, str) and reason else str(e)


#: Said when a plaintext connection fails: a node that requires TLS fails
#: it alike (runner and submit).
_PLAINTEXT_HINT = " (is a node up there? one that requires TLS needs GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY)"


def _resolve(tls: Optional[TLSFiles], env: Optional[Mapping[str, str]] = None) -> TLSFiles:
    """The files a connection uses: the argument when given (even empty,
    which is plaintext), else the GALE_TLS_* variables of env."""
    if tls is None:
        return TLSFiles.from_env(env)
    if not isinstance(tls, TLSFiles):
        raise TypeError(f"tls must be a gale.TLSFiles, got {type(tls).__name__}")
    return tls


def _channel(
    addr: str, creds: Optional[grpc.ChannelCredentials], options: Sequence[Tuple[str, Any]] = ()
) -> grpc.Channel:
    """A secure channel with creds, or the insecure channel without."""
    if creds is None:
        return grpc.insecure_channel(addr, options=list(options) or None)
    return grpc.secure_channel(addr, creds, options=list(options) or None)
