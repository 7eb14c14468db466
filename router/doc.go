// Package router decides where a tuple goes and carries it there in
// bounded queues: the stream groupings, the fields hash, and Queue.
//
// # Groupings
//
// A bolt subscribes to a stream with a grouping, which picks the
// subscriber's tasks that receive each tuple. The runtime makes one
// Grouper per emitting task and subscription with New, and calls Choose
// for every tuple from the emitting task's goroutine; Choose works on task
// indexes (0..NumTasks-1 in increasing task id order), takes no locks and
// does not allocate. The groupings are Storm's:
//
//   - shuffle: one task, round robin over an order that is reshuffled
//     every cycle: each task gets exactly one tuple per cycle of NumTasks
//     tuples, but emitters do not move in lock-step and periodic sources
//     do not pile up on one task. Storm keeps one shuffled order (and Storm
//     2 weighs tasks by load); Gale leaves load to queue backpressure.
//   - none: shuffle, as in Storm.
//   - fields: one task chosen by the key (the grouping fields): equal keys
//     go to the same task, from every emitter and every SDK. See "The
//     fields hash" below. Storm uses Java's hashCode modulo the task count,
//     so Gale places keys differently, and moves far fewer on rescaling.
//   - partial_key: fields grouping with two candidate tasks per key; each
//     tuple goes to the candidate this emitter has sent fewer tuples to,
//     so a hot key is split over two tasks instead of overloading one. A
//     bolt then holds partial state per key that a later bolt combines.
//     Same algorithm as Storm's PartialKeyGrouping, other hash.
//   - all: every task gets a copy, as in Storm.
//   - global: task index 0, the lowest task id, as in Storm.
//   - direct: the task the emitter names with EmitDirect, on a stream
//     declared direct; a task index out of range selects nothing and the
//     runtime reports it (Storm throws).
//   - local_or_shuffle: shuffle among the subscriber's tasks that run in
//     the emitter's process, avoiding the network; shuffle among all when
//     there is none. Storm also prefers the worker's tasks.
//
// GroupingName and ParseGrouping convert between the proto enum and the
// names topology files use.
//
// # The fields hash
//
// Fields and partial-key grouping route by a hash that every SDK must
// compute identically, so it is specified and versioned (FieldsHashVersion,
// "gale-fields-v1") rather than left to a language's built-in hash:
//
//  1. each key value is encoded canonically: a kind byte, then the
//     payload (strings and bytes length-prefixed, numbers little-endian,
//     -0.0 and NaNs normalised so that equal numbers encode equally);
//  2. the encoding is hashed with 64-bit FNV-1a and finished with the
//     splitmix64 finalizer (FieldsHash);
//  3. the task is Jump Consistent Hash of that key over NumTasks
//     (JumpHash), so that going from n to n+1 tasks moves only about
//     1/(n+1) of the keys, and their state, instead of nearly all.
//
// HASHING.md in this directory specifies it byte by byte for ports to
// other languages, and testdata/fields_hash_v1.json holds test vectors
// that every implementation must reproduce.
//
// # Queues
//
// Queue is a bounded generic FIFO built on a buffered channel, used where
// tuples cross goroutines. Backpressure is visible by design: Push blocks
// while the queue is full (until the context ends or the queue closes) and
// TryPush returns ErrFull, so a slow bolt slows its upstream and in the end
// its spouts, and nothing is dropped silently. Close is idempotent and safe
// to race with Push; consumers drain what is left, then see C() closed.
//
// A queue's capacity counts items (batches); a ByteBudget beside it bounds
// their bytes, which producers take before they push and the consumer
// gives back when it takes an item out. An Outbox sends a batch at its
// size bound or its byte bound (SetMaxBytes), whichever comes first.
//
// Errors wrap the sentinel errors ErrClosed, ErrFull and
// ErrInvalidGrouping; test for them with errors.Is.
package router
