// Package failover is Gale's failover verification example: a topology
// whose output proves, or disproves, at-least-once delivery while nodes
// are killed. Importing the package (for its side effect, as the gale
// binary does) registers three components under the class names a
// topology's YAML uses:
//
//	failover.SequenceSpout   spout, emits "id": the integers 0..N-1
//	failover.PassThrough     bolt,  re-emits "id" anchored to its input
//	failover.FileSink        bolt,  appends every id to a file, then acks
//
// The claim it verifies: once the spout has declared end of input and
// every tuple tree is done, every id 0..N-1 is in at least one sink file,
// whichever node was killed meanwhile. Ids may appear more than once
// (replays of trees that failed or timed out, and a restarted spout task
// starts over from its first id); CheckDir counts those duplicates and
// reports the ids that are missing.
//
// # Configuration
//
// The components read these keys from the merged topology config (set them
// in the YAML's config block or with --conf key=value):
//
//	seq.count       N, how many ids the spout emits, 0..N-1 (default 1000)
//	seq.rate        ids per second in total across the spout's tasks,
//	                replays included (0 or unset: as fast as the runtime
//	                allows)
//	filesink.dir    directory of the sink files (required; created if
//	                missing)
//	filesink.sync   fsync every line before acking it (default false)
//	filesink.field  the integer input field written (default "id")
//
// # The spout
//
// With p spout tasks, the task of TaskIndex i (p = the number of tasks of
// its component in TaskContext.ComponentTasks) emits the ids with
// id % p == i, in increasing order, on the default stream, as sdk.Int
// values, each reliably with message id id+1. It remembers only the ids in
// flight. Ack forgets an id; Fail queues it, and a later NextTuple emits it
// again, before any new id, oldest failure first; an id is replayed until it
// is acked. Once its last new id was emitted and every id acked, the task
// calls End once (not before: a rate-limited call that emits nothing while
// failed ids wait for tokens would end the run), so a local run ends when
// every tree is done. One NextTuple call emits at most 64 tuples. With seq.rate > 0 each
// task takes seq.rate/p tokens per second from a token bucket on time.Now;
// a call that may not emit sleeps at most about a millisecond and returns,
// so acks, fails and shutdown are never held up.
//
// A spout task keeps its state in memory only: when its node dies, the task
// restarts elsewhere from its first id. That is at-least-once, not
// exactly-once, and the checker counts the result as duplicates.
//
// # The pass-through bolt
//
// PassThrough re-emits the "id" field anchored to its input and acks the
// input, so every tree spans two hops and the bolts of two components,
// which usually sit on different nodes. Tick tuples are acked and ignored;
// an input without an "id" field (a wiring mistake that a replay could not
// fix) is reported with ReportError and acked.
//
// # The file sink
//
// FileSink appends "<id>\n" to <filesink.dir>/<task>.txt, where <task> is
// the task's global id (TaskContext.TaskID). A task that moves to another
// node after a failure keeps its global id, so on one machine (or a shared
// directory) it appends to the same file. Each line is written with one
// os.File.Write, and fsynced when filesink.sync is true, before the input is
// acked: every acked id is in a file. A failed write or fsync fails the
// input (so its id replays) and is reported with ReportError. A partial
// write is cut off again (the file is truncated to its last whole line), and
// so is an unterminated last line left by a crash when the file is opened,
// so the files hold whole lines only and no half-written id can pass for
// another one. Tick tuples are acked and ignored; an input whose "id" is not
// an integer is reported and acked.
//
// # The checker
//
// CheckDir (and CheckFS, its core) read every *.txt file of a directory,
// one decimal id a line, and report the ids of 0..N-1 that are missing, how
// many lines repeat an id, and every line that is not an id in range, by
// file:line. The command ./check wraps it:
//
//	go run ./examples/failover/check --dir /tmp/gale-failover --count 100000
//
// It exits 0 when every id is present and every line is well-formed, 1
// otherwise, and 2 when it cannot read the directory. An unterminated last
// line (a write in progress while the checker reads) is not counted, and is
// listed as a note.
package failover

// Class names under which init registers the components.
const (
	ClassSequenceSpout = "failover.SequenceSpout"
	ClassPassThrough   = "failover.PassThrough"
	ClassFileSink      = "failover.FileSink"
)

// Config keys read by the components. See the package documentation for
// their meaning and defaults.
const (
	KeyCount    = "seq.count"
	KeyRate     = "seq.rate"
	KeySinkDir  = "filesink.dir"
	KeySinkSync = "filesink.sync"
	// KeySinkField names the input field the sink writes.
	KeySinkField = "filesink.field"
)

// FieldID is the one field of the tuples the spout and PassThrough emit.
const FieldID = "id"
