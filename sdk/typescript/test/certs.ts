// Test certificates for the TLS tests, made at test time with the openssl
// command-line tool (OpenSSL 3) in a temporary folder: nothing secret or
// expiring is committed, and the files are PEM as a node's are.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Paths of the PEM files made by makeCerts. */
export interface Certs {
  dir: string;
  /** The cluster's CA (EC P-256). */
  ca: string;
  /** A node certificate for 127.0.0.1 and localhost (serverAuth, clientAuth), signed by ca. */
  server: string;
  serverKey: string;
  /** A client certificate (clientAuth), signed by ca. */
  client: string;
  clientKey: string;
  /** Another CA, and a client certificate and a node certificate for 127.0.0.1 that it signed. */
  otherCa: string;
  otherClient: string;
  otherClientKey: string;
  otherServer: string;
  otherServerKey: string;
  /** A node certificate of ca for the name gale.invalid only (not 127.0.0.1): host verification. */
  wrongHost: string;
  wrongHostKey: string;
}

// One configuration for every certificate: its own, so that the system's
// openssl.cnf (absent, or adding extensions of its own) plays no part.
const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[wronghost]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:gale.invalid
`;

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT") {
      throw new Error("the TLS tests need the openssl command-line tool (OpenSSL 3) on PATH to make their certificates; it was not found");
    }
    throw new Error(`openssl ${args.join(" ")} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

/** Makes the CAs, keys and certificates in a new temporary folder. */
export function makeCerts(): Certs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gale-tls-test-"));
  fs.writeFileSync(path.join(dir, "openssl.cnf"), CONFIG);
  const key = (name: string) => openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`]);
  const ca = (name: string, cn: string) => {
    key(name);
    openssl(dir, ["req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-days", "2", "-sha256", "-config", "openssl.cnf", "-extensions", "ca", "-out", `${name}.pem`]);
  };
  let serial = 1;
  const leaf = (name: string, cn: string, signer: string, ext: string) => {
    key(name);
    openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-config", "openssl.cnf", "-out", `${name}.csr`]);
    openssl(dir, [
      "x509", "-req", "-in", `${name}.csr`, "-CA", `${signer}.pem`, "-CAkey", `${signer}.key`, "-set_serial", String(++serial),
      "-days", "2", "-sha256", "-extfile", "openssl.cnf", "-extensions", ext, "-out", `${name}.pem`,
    ]);
  };
  ca("ca", "Gale test CA");
  leaf("server", "gale-test-node", "ca", "server");
  leaf("client", "gale-test-client", "ca", "client");
  leaf("wronghost", "gale-test-wrong-host", "ca", "wronghost");
  ca("other-ca", "Another test CA");
  leaf("other-client", "other-client", "other-ca", "client");
  leaf("other-server", "other-node", "other-ca", "server");
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    ca: p("ca.pem"),
    server: p("server.pem"),
    serverKey: p("server.key"),
    client: p("client.pem"),
    clientKey: p("client.key"),
    otherCa: p("other-ca.pem"),
    otherClient: p("other-client.pem"),
    otherClientKey: p("other-client.key"),
    otherServer: p("other-server.pem"),
    otherServerKey: p("other-server.key"),
    wrongHost: p("wronghost.pem"),
    wrongHostKey: p("wronghost.key"),
  };
}
