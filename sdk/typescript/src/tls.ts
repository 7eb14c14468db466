// Mutual TLS to a node (sdk/ATTACH.md): the channel credentials of run and
// submit, from their options or the GALE_TLS_* environment.
//
// A node with TLS serves its one gRPC port (Attach, CoordinatorService)
// only to clients that present a certificate of the cluster's CA, and sets
// GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY to its own files for the
// processes it manages: reading them here is what lets a managed process
// connect with no change to its code.
//
// The files are read and checked before anything is dialled. grpc-js would
// accept a CA file with no certificate in it and only fail the handshake
// later, with a status that names neither the file nor the problem; here a
// bad file is an AttachError naming the variable (or option), the path and
// what is wrong.

import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { AttachError } from "./errors";

/**
 * PEM files of mutual TLS to a node, the option form of GALE_TLS_CA,
 * GALE_TLS_CERT and GALE_TLS_KEY. Relative paths are from the process's
 * working directory.
 */
export interface TlsFiles {
  /** CA certificate(s) that signed the node's certificate; the node's is verified against them and the host of the address. */
  ca: string;
  /** Certificate (chain) this client presents, signed by the cluster's CA; with key (a node with TLS refuses a client without one). */
  cert?: string;
  /** The certificate's private key, unencrypted; with cert. */
  key?: string;
}

/** How a connection to a node is secured: the options run and submit share. */
export interface ConnectionOptions {
  /** Channel credentials; they take precedence over tls and the GALE_TLS_* variables. */
  credentials?: grpc.ChannelCredentials;
  /** TLS files; given, they replace the three GALE_TLS_* variables as a whole. */
  tls?: TlsFiles;
  /** Where GALE_TLS_* are read from; process.env by default. */
  env?: Record<string, string | undefined>;
}

/** @internal The chosen credentials, and the TLS files for connection errors (undefined: not TLS from files). */
export interface ResolvedCredentials {
  credentials: grpc.ChannelCredentials;
  tls: string | undefined;
}

/**
 * The channel credentials run and submit use: options.credentials when
 * given; else TLS with options.tls, or with the GALE_TLS_* variables of
 * options.env (process.env by default) when GALE_TLS_CA is set and not
 * empty; else insecure (plaintext). Throws an AttachError for files that
 * cannot be read or used, a certificate without its key (or the reverse),
 * or a certificate or key without a CA. For clients of other node services
 * (a CoordinatorServiceClient from src/gen, say) that must connect as the
 * SDK does.
 */
export function channelCredentials(options: ConnectionOptions = {}): grpc.ChannelCredentials {
  return resolveCredentials(options).credentials;
}

/** @internal channelCredentials, with a description of the TLS files for connection errors. */
export function resolveCredentials(options: ConnectionOptions): ResolvedCredentials {
  if (options.credentials !== undefined) return { credentials: options.credentials, tls: undefined };
  const files = options.tls !== undefined ? fromOption(options.tls) : fromEnv(options.env ?? process.env);
  if (files === undefined) return { credentials: grpc.credentials.createInsecure(), tls: undefined };
  return { credentials: load(files), tls: describe(files) };
}

/** A file and the variable or option that named it, for messages. */
interface Named {
  name: string;
  path: string;
}

interface Files {
  ca: Named;
  cert?: Named;
  key?: Named;
}

/** The names of the three settings, and how their absence is said. */
interface Names {
  ca: string;
  cert: string;
  key: string;
  missing: string;
}

const ENV_NAMES: Names = { ca: "GALE_TLS_CA", cert: "GALE_TLS_CERT", key: "GALE_TLS_KEY", missing: "is not set" };
const OPTION_NAMES: Names = { ca: "tls.ca", cert: "tls.cert", key: "tls.key", missing: "is not given" };

/** The files of the GALE_TLS_* variables; undefined when none is set (plaintext). Empty counts as unset. */
function fromEnv(env: Record<string, string | undefined>): Files | undefined {
  const get = (name: string): Named | undefined => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : { name, path: v };
  };
  const ca = get(ENV_NAMES.ca);
  const cert = get(ENV_NAMES.cert);
  const key = get(ENV_NAMES.key);
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  return complete(ca, cert, key, ENV_NAMES);
}

/** The files of a tls option: it asks for TLS, so a CA must be named. */
function fromOption(tls: TlsFiles): Files {
  // Checked at run time too: JavaScript callers and `as` casts get past the types.
  if (typeof tls !== "object" || tls === null) throw new AttachError(`tls must be an object { ca, cert?, key? } of PEM file paths, got ${String(tls)}`);
  const get = (field: "ca" | "cert" | "key"): Named | undefined => {
    const v: unknown = tls[field];
    const name = OPTION_NAMES[field];
    if (v === undefined || v === "") return undefined;
    if (typeof v !== "string") throw new AttachError(`${name} must be the path of a PEM file (a string), got ${typeof v}`);
    return { name, path: v };
  };
  const files = complete(get("ca"), get("cert"), get("key"), OPTION_NAMES);
  if (files === undefined) throw new AttachError(`tls.ca ${OPTION_NAMES.missing}: TLS needs the PEM file of the CA that signed the node's certificate`);
  return files;
}

/** Checks that the settings fit together: cert and key both or neither, and neither without a CA. */
function complete(ca: Named | undefined, cert: Named | undefined, key: Named | undefined, n: Names): Files | undefined {
  if (cert !== undefined && key === undefined) {
    throw new AttachError(`${cert.name}=${cert.path}: ${n.key} ${n.missing}: a client certificate needs its private key (both or neither)`);
  }
  if (key !== undefined && cert === undefined) {
    throw new AttachError(`${key.name}=${key.path}: ${n.cert} ${n.missing}: a private key needs its certificate (both or neither)`);
  }
  if (ca === undefined) {
    if (cert === undefined) return undefined;
    // Presenting a certificate over a connection that does not verify
    // the node's would be TLS in name only: refuse rather than guess.
    throw new AttachError(
      `${cert.name}=${cert.path}: ${n.ca} ${n.missing}: TLS needs the PEM file of the CA that signed the node's certificate to verify it`,
    );
  }
  return { ca, cert, key };
}

let ipServernameQuiet = false;

/**
 * Drops Node's DEP0123 warning. grpc-js names the dialled host as the TLS
 * server name, and a node is dialled by its IP address (GALE_ATTACH_ADDR):
 * Node then prints that an IP server name breaks RFC 6066 in every managed
 * process, which the node logged as a warning at each start. The name
 * checked against the certificate is unaffected.
 */
function quietIpServername(): void {
  if (ipServernameQuiet) return;
  ipServernameQuiet = true;
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const opts = rest[0];
    const code = opts !== null && typeof opts === "object" ? (opts as { code?: unknown }).code : rest[1];
    if (code === "DEP0123") return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
}

/** Reads and checks the files and makes the credentials. */
function load(files: Files): grpc.ChannelCredentials {
  const ca = read(files.ca);
  certificate(files.ca, ca);
  let cert: Buffer | null = null;
  let key: Buffer | null = null;
  if (files.cert !== undefined && files.key !== undefined) {
    cert = read(files.cert);
    const leaf = certificate(files.cert, cert);
    key = read(files.key);
    if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(key.toString("latin1"))) {
      throw problem(files.key, "no PEM private key in it (want a -----BEGIN ... PRIVATE KEY----- block)");
    }
    let pk: crypto.KeyObject;
    try {
      pk = crypto.createPrivateKey(key);
    } catch (e) {
      throw problem(files.key, `not a usable private key (it must be unencrypted): ${message(e)}`);
    }
    if (!leaf.checkPrivateKey(pk)) throw problem(files.key, `is not the private key of ${files.cert.name}=${files.cert.path}`);
  }
  quietIpServername();
  try {
    return grpc.credentials.createSsl(ca, key, cert);
  } catch (e) {
    // What the checks above let through and OpenSSL still refuses.
    throw new AttachError(`TLS (${describe(files)}): ${message(e)}`);
  }
}

function read(f: Named): Buffer {
  try {
    return fs.readFileSync(f.path);
  } catch (e) {
    throw problem(f, `cannot read: ${message(e)}`);
  }
}

/** Parses the first certificate of a PEM file (the leaf, for a chain). */
function certificate(f: Named, pem: Buffer): crypto.X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw problem(f, "no PEM certificate in it (want a -----BEGIN CERTIFICATE----- block)");
  }
  try {
    return new crypto.X509Certificate(pem);
  } catch (e) {
    throw problem(f, `not a readable PEM certificate: ${message(e)}`);
  }
}

function problem(f: Named, what: string): AttachError {
  return new AttachError(`${f.name}=${f.path}: ${what}`);
}

/** "CA GALE_TLS_CA=/p/ca.pem, certificate GALE_TLS_CERT=/p/c.pem": what a failed connection offered. */
function describe(files: Files): string {
  const cert = files.cert !== undefined ? `certificate ${files.cert.name}=${files.cert.path}` : "no client certificate";
  return `CA ${files.ca.name}=${files.ca.path}, ${cert}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message || e.name : String(e);
}

/** Said when a plaintext connection fails: a node that requires TLS fails it alike. */
const PLAINTEXT_HINT = " (is a node up there? one that requires TLS needs GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY)";

/**
 * @internal "CODE: details" of a failed call, for messages. grpc-js reports
 * a refused TLS handshake as UNAVAILABLE with OpenSSL's words only (a
 * certificate required, one that cannot be verified), over two lines: when
 * the connection used TLS files (tls, from ResolvedCredentials), the
 * details are put on one line and the files this side offered are added,
 * so that the message says which ones to look at.
 */
export function callFailure(e: { code: number; details?: string; message: string }, tls: string | undefined): string {
  let details = e.details || e.message;
  if (e.code === grpc.status.UNAVAILABLE) {
    const tidy = details.replace(/\s*\n\s*/g, " ").replace(/\s*Resolution note:\s*$/, "").trim();
    // Plaintext to a node that requires TLS reads as any failed connection.
    details = tls !== undefined ? `${tidy} (over TLS: ${tls})` : `${tidy}${PLAINTEXT_HINT}`;
  }
  return `${grpc.status[e.code] ?? e.code}: ${details}`;
}
