// Merging a count task's totals into the shared output file, with the same
// protocol and file formats as the Go count bolt (examples/wordcount/doc.go,
// merge.go), so that Go and TypeScript count tasks can share one output:
//
//  1. take an exclusive flock on "<output>.lock";
//  2. read the sidecar "<output>.gale-merge" (line 1: the topology run id,
//     line 2: how many count tasks merged so far); another run's sidecar,
//     or none, means the output is stale and is overwritten;
//  3. merge the sorted output with this task's sorted totals (duplicate
//     words summed) into a temp file beside it, fsync, rename over it;
//  4. update the sidecar; the last task removes the sidecar and the lock.
//
// Node has no flock call, so the lock is taken by util-linux flock(1) on a
// descriptor this process passes to it: flock locks belong to the open file
// description, which the child shares, so the lock stays held after the
// child exits, until this process closes its descriptor. It interoperates
// with Go's syscall.Flock, and waiting for it does not block the event loop
// (heartbeats keep flowing while another task holds the lock).

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { compareBytes } from "./words";

const LOCK_SUFFIX = ".lock";
const SIDECAR_SUFFIX = ".gale-merge";

export interface MergeJob {
  path: string;
  topologyId: string;
  /** Count tasks that write path. */
  tasks: number;
  /** This task's words, sorted by compareBytes, and their counts. */
  words: string[];
  counts: number[];
}

/** Takes an exclusive flock on path (created if missing); resolves to the unlock function. */
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

/** Merges job's totals into the output file under the lock. */
export async function mergeOutput(job: MergeJob): Promise<void> {
  const lockPath = job.path + LOCK_SUFFIX;
  let unlock: () => void;
  try {
    unlock = await lockFile(lockPath);
  } catch (e) {
    throw new Error(`lock ${lockPath}: ${(e as Error).message}`);
  }
  try {
    const sidecar = job.path + SIDECAR_SUFFIX;
    let merged = readSidecar(sidecar, job.topologyId);
    if (merged >= job.tasks) {
      throw new Error(`read merge state ${sidecar}: ${merged} of ${job.tasks} tasks merged already: corrupt merge state`);
    }
    // Tasks that merged before us in this run left their totals in the
    // output; otherwise whatever is there is stale and gets overwritten.
    let prev: string | undefined;
    if (merged > 0) {
      try {
        prev = fs.readFileSync(job.path, "utf8");
      } catch (e) {
        throw new Error(`read output of the ${merged} tasks merged so far: ${(e as Error).message}`);
      }
    }
    writeAtomic(job.path, mergeLines(job.path, prev, job.words, job.counts));
    merged++;
    if (merged < job.tasks) {
      try {
        writeAtomic(sidecar, `${job.topologyId}\n${merged}\n`);
      } catch (e) {
        throw new Error(`update merge state: ${(e as Error).message}`);
      }
      return;
    }
    // The last task cleans up, still holding the lock.
    rmIfExists(sidecar, "remove merge state");
    rmIfExists(lockPath, "remove lock file");
  } finally {
    unlock();
  }
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
  const [id, countLine = ""] = data.split("\n");
  if (id !== topologyId) return 0;
  const n = Number(countLine.trim());
  if (countLine.trim() === "" || !Number.isInteger(n) || n < 0) {
    throw new Error(`read merge state ${file}: line 2 ${JSON.stringify(countLine)} is not a task count: corrupt merge state`);
  }
  return n;
}

/** The merge of prev (sorted word<TAB>count lines, or undefined) and the sorted words, as file text. */
export function mergeLines(name: string, prev: string | undefined, words: string[], counts: number[]): string {
  const entries: [string, number][] = [];
  if (prev !== undefined && prev !== "") {
    const lines = prev.endsWith("\n") ? prev.slice(0, -1).split("\n") : prev.split("\n");
    let last: string | undefined;
    lines.forEach((text, i) => {
      const tab = text.lastIndexOf("\t");
      if (tab <= 0) throw new Error(`read ${name} line ${i + 1}: ${JSON.stringify(text)} is not word<TAB>count: corrupt output file`);
      const word = text.slice(0, tab);
      const digits = text.slice(tab + 1);
      if (!/^[+-]?\d+$/.test(digits)) throw new Error(`read ${name} line ${i + 1}: bad count ${JSON.stringify(digits)}: corrupt output file`);
      if (last !== undefined && compareBytes(word, last) < 0) {
        throw new Error(`read ${name} line ${i + 1}: ${JSON.stringify(word)} after ${JSON.stringify(last)}: lines not sorted by word: corrupt output file`);
      }
      last = word;
      entries.push([word, Number(digits)]);
    });
  }
  let out = "";
  let cur: string | undefined;
  let sum = 0;
  const add = (w: string, c: number) => {
    if (w === cur) {
      sum += c;
      return;
    }
    if (cur !== undefined) out += `${cur}\t${sum}\n`;
    cur = w;
    sum = c;
  };
  let i = 0;
  let j = 0;
  while (i < entries.length || j < words.length) {
    if (i < entries.length && (j === words.length || compareBytes(entries[i][0], words[j]) <= 0)) {
      add(entries[i][0], entries[i][1]);
      i++;
    } else {
      add(words[j], counts[j]);
      j++;
    }
  }
  if (cur !== undefined) out += `${cur}\t${sum}\n`;
  return out;
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
    fs.writeFileSync(fd, data); // writeSync may write only part of it
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
