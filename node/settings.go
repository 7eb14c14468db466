package node

import (
	"fmt"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// Topology config keys read by the runtime. sdk/CONFIG.md documents them
// for users; the defaults are in DefaultSettings.
const (
	KeyAckers         = "topology.acker.executors"
	KeyMessageTimeout = "topology.message.timeout.secs"
	KeyMaxSpoutPend   = "topology.max.spout.pending"
	KeyTickFreq       = "topology.tick.tuple.freq.secs"
	KeyBatchSize      = "topology.batch.size"
	KeyRemoteBatch    = "topology.remote.batch.size"
	KeyBatchLinger    = "topology.batch.linger"
	KeyQueueSize      = "topology.queue.size"
	KeySpoutWait      = "topology.spout.wait"
	KeyIdleFlushGap   = "topology.batch.idle.gap"

	// Keys of external components (sdk/ATTACH.md), read per component.
	KeyExternalHeartbeat   = "topology.external.heartbeat.ms"
	KeyExternalMaxInflight = "topology.external.max.inflight"
	// KeySubprocessTimeout is Storm's key for how long a multilang
	// process may leave a command unanswered.
	KeySubprocessTimeout = "topology.subprocess.timeout.secs"
)

// Settings are the runtime knobs of one topology, read from its config.
type Settings struct {
	// Ackers is the number of acker tasks; 0 turns acking off
	// (at-most-once: spouts' reliable emits are acked at once).
	Ackers int
	// MessageTimeout is how long a tuple tree may make no progress before
	// it fails and replays. The clock does not run against a tree while
	// the topology holds older work in its queues (see acker.go).
	MessageTimeout time.Duration
	// MaxSpoutPending bounds the in-flight trees per spout task (0:
	// unbounded; only meaningful with acking on).
	MaxSpoutPending int
	// BatchSize is the size bound of a batch between two tasks of one
	// node.
	BatchSize int
	// RemoteBatchSize is the size bound of a batch to a task on another
	// node: one network frame. A frame costs a fixed few microseconds on
	// each side (gRPC's framing, a wake-up of its writer and reader), so
	// frames are larger than batches in memory, which stay small enough to
	// stay in cache. The linger bound still sends a partial batch, so
	// frames are only this large when the stream is busy.
	RemoteBatchSize int
	// BatchLinger is the linger bound: the longest a tuple waits in a
	// partial batch before it is sent.
	BatchLinger time.Duration
	// IdleFlushGap is the least time between two flushes of partial
	// batches by a task that ran out of work (see executor.idleFlush).
	IdleFlushGap time.Duration
	// QueueSize is the capacity of a task's input queue, in batches.
	QueueSize int
	// SpoutWait is how long a spout task waits after a NextTuple call that
	// emitted nothing before it calls again.
	SpoutWait time.Duration
}

// DefaultSettings returns the tuned defaults: they reach the throughput
// targets on two cores with a p50 complete latency of a few hundred
// microseconds at half load (the p99 is the machine's: see README,
// Benchmarks).
func DefaultSettings() Settings {
	return Settings{
		Ackers:          1,
		MessageTimeout:  30 * time.Second,
		MaxSpoutPending: 8192,
		BatchSize:       128,
		RemoteBatchSize: 512,
		BatchLinger:     200 * time.Microsecond,
		IdleFlushGap:    50 * time.Microsecond,
		QueueSize:       64,
		SpoutWait:       time.Millisecond,
	}
}

// SettingsFromConfig reads the topology.* keys over the defaults and
// validates them, naming the bad key.
func SettingsFromConfig(c sdk.Config) (Settings, error) {
	s := DefaultSettings()
	var err error
	geti := func(key string, dst *int, min, max int64) {
		if err != nil {
			return
		}
		var v int64
		v, err = c.Int(key, int64(*dst))
		switch {
		case err != nil:
		case v < min:
			err = fmt.Errorf("config %s: must be at least %d, got %d", key, min, v)
		case v > max:
			err = fmt.Errorf("config %s: must be at most %d, got %d", key, max, v)
		}
		*dst = int(v)
	}
	getd := func(key string, unit time.Duration, dst *time.Duration, min time.Duration) {
		if err != nil {
			return
		}
		var v time.Duration
		v, err = c.Duration(key, unit, *dst)
		switch {
		case err != nil:
		case v < min:
			err = fmt.Errorf("config %s: must be at least %v", key, min)
		case v > 24*time.Hour:
			err = fmt.Errorf("config %s: must be at most 24h", key)
		}
		*dst = v
	}
	// Upper bounds keep a typo from allocating the machine away.
	geti(KeyAckers, &s.Ackers, 0, 10000)
	getd(KeyMessageTimeout, time.Second, &s.MessageTimeout, 10*time.Millisecond)
	geti(KeyMaxSpoutPend, &s.MaxSpoutPending, 0, 1<<24)
	geti(KeyBatchSize, &s.BatchSize, 1, 1<<16)
	geti(KeyRemoteBatch, &s.RemoteBatchSize, 1, 1<<16)
	getd(KeyBatchLinger, time.Millisecond, &s.BatchLinger, 0)
	getd(KeyIdleFlushGap, time.Millisecond, &s.IdleFlushGap, 0)
	geti(KeyQueueSize, &s.QueueSize, 1, 1<<16)
	getd(KeySpoutWait, time.Millisecond, &s.SpoutWait, 0)
	return s, err
}
