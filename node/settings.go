package node

import (
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"
)

// Topology config keys read by the runtime: spec's table of Gale's keys
// (spec.RuntimeKeys) has their bounds, and sdk/CONFIG.md documents them
// for users; the defaults are in DefaultSettings.
const (
	KeyAckers         = spec.KeyAckers
	KeyMessageTimeout = spec.KeyMessageTimeout
	KeyMaxSpoutPend   = spec.KeyMaxSpoutPend
	KeyTickFreq       = spec.KeyTickFreq
	KeyBatchSize      = spec.KeyBatchSize
	KeyRemoteBatch    = spec.KeyRemoteBatch
	KeyBatchLinger    = spec.KeyBatchLinger
	KeyQueueSize      = spec.KeyQueueSize
	KeyBatchBytes     = spec.KeyBatchBytes
	KeyQueueBytes     = spec.KeyQueueBytes
	KeySpoutWait      = spec.KeySpoutWait
	KeyIdleFlushGap   = spec.KeyIdleFlushGap
	KeyRemoteFrameGap = spec.KeyRemoteFrameGap
	KeyPreciseWakeups = spec.KeyPreciseWakeups

	KeyExternalHeartbeat   = spec.KeyExternalHeartbeat
	KeyExternalMaxInflight = spec.KeyExternalMaxInflight
	KeyExternalMaxBytes    = spec.KeyExternalMaxInflightBytes
	KeySubprocessTimeout   = spec.KeySubprocessTimeout
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
	// BatchLinger is the linger bound: how long a tuple may wait in a
	// partial batch before it is sent. A task asleep on it wakes on a Go
	// timer, about a millisecond late in an idle process (Go rounds
	// shorter waits up to one; BenchmarkMachineIdleTimer), unless
	// PreciseWakeups puts it on the runtime's clock (README, "Timers
	// under a millisecond").
	BatchLinger time.Duration
	// IdleFlushGap is the least time between two flushes of partial
	// batches by a task that ran out of work (see executor.idleFlush).
	IdleFlushGap time.Duration
	// RemoteFrameGap is the least time between two partial batches a task
	// sends to one task on another node (acks to an acker there too),
	// unless the task runs out of work with an eighth of RemoteBatchSize
	// in the batch (router.Outbox.SetFrameGap); 0 sends them as local ones
	// go. A frame costs tens of microseconds of CPU on the two
	// nodes whatever it holds, so a lightly loaded cluster that sent a
	// frame at every idle moment spent most of its CPU on frames of a few
	// tuples.
	RemoteFrameGap time.Duration
	// QueueSize is the capacity of a task's input queue, in batches.
	QueueSize int
	// BatchBytes bounds a batch by the bytes of its string and bytes
	// values: a batch is sent once it holds this many, whatever its
	// count. With QueueBytes it keeps large tuples from filling memory:
	// counts alone let a queue of 64 batches of 128 tuples of 1 MiB
	// hold 8 GiB.
	BatchBytes int
	// QueueBytes bounds the bytes of string and bytes values in a task's
	// input queue (router.ByteBudget: plus one batch), and the credit
	// window in bytes that the task gives each node that sends to it.
	QueueBytes int64
	// SpoutWait is how long a spout task waits after a NextTuple call that
	// emitted nothing before it calls again.
	SpoutWait time.Duration
	// PreciseWakeups wakes tasks at their deadlines on the runtime's
	// alarm clock (package alarm) instead of Go's timers: a tail latency
	// several times lower at moderate load, for more CPU when lightly
	// loaded.
	PreciseWakeups bool
}

// CreditWindow is the flow-control credit a node gives another per
// destination task, in tuples: what the task's queue holds when it is full
// of batches from the network, QueueSize batches of RemoteBatchSize
// tuples. The sender waits only with a whole window in flight, so the
// window bounds what a receiver may have to hold beyond its queue. It
// also bounds a stream's rate to a window per round trip of the credit
// (a frame out, a grant back), and on a loaded machine such a round trip
// takes milliseconds: a window of QueueSize batches of the smaller
// in-memory BatchSize (16 frames) held pass-through without acking at
// 0.8 of the rate this window gives (node/bench/PERFORMANCE.md, On three
// nodes).
func (s Settings) CreditWindow() int64 {
	return int64(s.QueueSize) * int64(max(s.BatchSize, s.RemoteBatchSize))
}

// CreditWindowBytes is the flow-control credit in bytes of values a
// node gives another per destination task: what the task's queue holds
// when it is full by bytes. A sender waits while either window is spent.
func (s Settings) CreditWindowBytes() int64 { return s.QueueBytes }

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
		RemoteFrameGap:  time.Millisecond,
		QueueSize:       64,
		BatchBytes:      1 << 20,
		QueueBytes:      32 << 20,
		SpoutWait:       time.Millisecond,
	}
}

// SettingsFromConfig reads the topology.* keys over the defaults and
// validates them, naming the bad key.
func SettingsFromConfig(c sdk.Config) (Settings, error) {
	s := DefaultSettings()
	var err error
	geti := func(key string, dst *int) {
		if err == nil {
			var v int64
			v, err = configInt(c, key, int64(*dst))
			*dst = int(v)
		}
	}
	getd := func(key string, dst *time.Duration) {
		if err == nil {
			*dst, err = configDuration(c, key, *dst)
		}
	}
	geti(KeyAckers, &s.Ackers)
	getd(KeyMessageTimeout, &s.MessageTimeout)
	geti(KeyMaxSpoutPend, &s.MaxSpoutPending)
	geti(KeyBatchSize, &s.BatchSize)
	geti(KeyRemoteBatch, &s.RemoteBatchSize)
	getd(KeyBatchLinger, &s.BatchLinger)
	getd(KeyIdleFlushGap, &s.IdleFlushGap)
	getd(KeyRemoteFrameGap, &s.RemoteFrameGap)
	geti(KeyQueueSize, &s.QueueSize)
	geti(KeyBatchBytes, &s.BatchBytes)
	if err == nil {
		s.QueueBytes, err = configInt(c, KeyQueueBytes, s.QueueBytes)
	}
	getd(KeySpoutWait, &s.SpoutWait)
	if err == nil {
		s.PreciseWakeups, err = configBool(c, KeyPreciseWakeups, s.PreciseWakeups)
	}
	return s, err
}

// configInt reads one of Gale's integer keys from c, bounds checked.
func configInt(c sdk.Config, key string, def int64) (int64, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	return spec.MustRuntimeKey(key).Int(sdk.ValueToProto(v), def)
}

// configBool reads one of Gale's switches from c.
func configBool(c sdk.Config, key string, def bool) (bool, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	return spec.MustRuntimeKey(key).BoolOf(sdk.ValueToProto(v), def)
}

// configDuration reads one of Gale's duration keys from c, bounds checked.
func configDuration(c sdk.Config, key string, def time.Duration) (time.Duration, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	return spec.MustRuntimeKey(key).Duration(sdk.ValueToProto(v), def)
}
