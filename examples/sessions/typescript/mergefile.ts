// The merge protocol of examples/internal/mergefile, in TypeScript: the
// tasks of one component merge their sorted results into one output file,
// whatever process runs them, serialised by an exclusive flock on
// "<output>.lock":
//
//  1. Read the sidecar "<output>.gale-merge": line 1 is the topology run
//     id, line 2 how many tasks merged so far. Another run's sidecar (or
//     none) means the output is stale: start empty.
//  2. Merge the current output with this task's results (the caller's
//     write) into a temp file in the same folder; fsync it and rename it
//     over the output.
//  3. Update the sidecar (also by rename); the last task removes the
//     sidecar and the lock file instead.
//
// The same protocol as examples/wordcount/typescript/merge.ts (whose merge
// is specific to word counts), generic like python/mergefile.py. Node has
// no flock call, so the lock is taken by util-linux flock(1) on a
// descriptor this process passes to it: flock locks belong to the open
// file description, which the child shares, so the lock stays held after
// the child exits, until this process closes its descriptor. It
// interoperates with Go's syscall.Flock, and waiting for it does not block
// the event loop (heartbeats keep flowing while another task holds it).

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const LOCK_SUFFIX = ".lock";
export const SIDECAR_SUFFIX = ".gale-merge";

/** The merge state of the current run is unreadable or says every task merged already. */
export class MergeStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MergeStateError";
  }
}

/**
 * Merges one task's results into the output at file under the lock:
 * write(prev) returns the merge of prev (the output of the tasks merged
 * before in this run, or undefined for the first) with this task's results.
 */
export async function merge(file: string, topologyId: string, tasks: number, write: (prev: string | undefined) => string): Promise<void> {
  const lockPath = file + LOCK_SUFFIX;
  let unlock: () => void;
  try {
    unlock = await lockFile(lockPath);
  } catch (e) {
    throw new Error(`lock ${lockPath}: ${(e as Error).message}`);
  }
  try {
    const sidecar = file + SIDECAR_SUFFIX;
    let merged = readSidecar(sidecar, topologyId);
    if (merged >= tasks) {
      throw new MergeStateError(`read merge state ${sidecar}: ${merged} of ${tasks} tasks merged already: corrupt merge state`);
    }
    // Tasks that merged before us in this run left their results in the
    // output; otherwise whatever is there is stale and gets overwritten.
    let prev: string | undefined;
    if (merged > 0) {
      try {
        prev = fs.readFileSync(file, "utf8");
      } catch (e) {
        throw new Error(`read output of the ${merged} tasks merged so far: ${(e as Error).message}`);
      }
    }
    writeAtomic(file, write(prev));
    merged++;
    if (merged < tasks) {
      try {
        writeAtomic(sidecar, `${topologyId}\n${merged}\n`);
      } catch (e) {
        throw new Error(`update merge state: ${(e as Error).message}`);
      }
      return;
    }
    // The last task cleans up, still holding the lock: a task of a later
    // run that opened the lock file meanwhile notices (lockFile) and locks
    // a fresh one.
    rmIfExists(sidecar, "remove merge state");
    rmIfExists(lockPath, "remove lock file");
  } finally {
    unlock();
  }
}

/** Takes an exclusive flock on file (created if missing); resolves to the unlock function. */
export async function lockFile(file: string): Promise<() => void> {
  for (;;) {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      await flockFd(fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    // The previous holder may have removed the file after we opened it (the
    // last task of a run does): a lock on that orphan excludes nobody.
    const held = fs.fstatSync(fd);
    let cur: fs.Stats | undefined;
    try {
      cur = fs.statSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        fs.closeSync(fd);
        throw e;
      }
    }
    if (cur !== undefined && cur.dev === held.dev && cur.ino === held.ino) {
      // Closing the only descriptor of the open file releases the lock.
      return () => fs.closeSync(fd);
    }
    fs.closeSync(fd);
  }
}

function flockFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // The descriptor becomes fd 3 of the child: `flock 3` locks it.
    const child = spawn("flock", ["--exclusive", "3"], { stdio: ["ignore", "ignore", "pipe", fd] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", (e) => reject(new Error(`run flock(1) (util-linux): ${e.message}`)));
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`flock(1) failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

function rmIfExists(file: string, what: string): void {
  try {
    fs.unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`${what}: ${(e as Error).message}`);
  }
}

/** How many tasks of topologyId merged so far: 0 without a sidecar or for another run's. */
export function readSidecar(file: string, topologyId: string): number {
  let data: string;
  try {
    data = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw new Error(`read merge state: ${(e as Error).message}`);
  }
  const nl = data.indexOf("\n");
  const id = nl < 0 ? data : data.slice(0, nl);
  if (id !== topologyId) return 0; // an earlier run's leftovers: its output is stale
  const rest = nl < 0 ? "" : data.slice(nl + 1);
  const countLine = rest.split("\n", 1)[0];
  const trimmed = countLine.trim();
  if (!/^[+-]?[0-9]+$/.test(trimmed) || Number(trimmed) < 0 || !Number.isSafeInteger(Number(trimmed))) {
    throw new MergeStateError(`read merge state ${file}: line 2 ${JSON.stringify(countLine)} is not a task count: corrupt merge state`);
  }
  return Number(trimmed);
}

/**
 * Replaces file with data: a temp file in the same folder, fsynced, renamed
 * over it, then the folder fsynced, so a crash leaves the old or the new
 * file, never a torn one.
 */
export function writeAtomic(file: string, data: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = fs.openSync(tmp, "wx", 0o644);
  try {
    fs.writeFileSync(fd, data); // loops until everything is written
    fs.fchmodSync(fd, 0o644);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new Error(`write ${tmp}: ${(e as Error).message}`);
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`rename ${tmp} to ${file}: ${(e as Error).message}`);
  }
  // Best effort: some file systems refuse to fsync a folder, and the
  // rename has happened either way.
  try {
    const d = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    /* see above */
  }
}
