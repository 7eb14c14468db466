package failover

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// emitBatch is the most tuples one NextTuple call emits, replays included,
// so that a call returns quickly and the runtime can deliver acks and fails
// in between.
const emitBatch = 64

// maxIdleSleep bounds the sleep of a rate-limited NextTuple that may not
// emit yet: long enough not to spin, short enough that the runtime's loop
// (acks, fails, shutdown) is never held up.
const maxIdleSleep = time.Millisecond

// SpoutConfig is the configuration of a SequenceSpout task.
type SpoutConfig struct {
	// Count is N: the spout emits the ids 0..N-1, over all its tasks. Key
	// seq.count, default 1000, at least 0.
	Count int64
	// Rate is the most ids emitted per second in total across the spout's
	// tasks, replays included; each of p tasks takes Rate/p. 0 means as
	// fast as the runtime allows. Key seq.rate, default 0.
	Rate float64
}

// DefaultSpoutConfig returns the defaults: 1000 ids, no rate limit.
func DefaultSpoutConfig() SpoutConfig { return SpoutConfig{Count: 1000} }

// Validate reports the first setting that is out of range, by its key.
func (c SpoutConfig) Validate() error {
	switch {
	case c.Count < 0:
		return fmt.Errorf("config %s: must be at least 0, got %d", KeyCount, c.Count)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("config %s: must be a finite number >= 0 (0: unlimited), got %v", KeyRate, c.Rate)
	}
	return nil
}

// SpoutConfigFrom reads a SpoutConfig from a task's config, starting from
// DefaultSpoutConfig, and validates it.
func SpoutConfigFrom(conf sdk.Config) (SpoutConfig, error) {
	c := DefaultSpoutConfig()
	var err error
	if c.Count, err = conf.Int(KeyCount, c.Count); err != nil {
		return c, err
	}
	if c.Rate, err = conf.Float(KeyRate, c.Rate); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// SequenceSpout emits the integers 0..N-1 as "id" tuples, reliably, with
// message id = id+1, split over its tasks by id modulo the number of tasks.
// See the package documentation for the full contract. Like every spout,
// it is driven from one goroutine and needs no locking.
type SequenceSpout struct {
	cfg SpoutConfig
	out *sdk.SpoutCollector
	log *slog.Logger

	// now is the token bucket's clock; tests replace it before Open.
	now func() time.Time

	next  uint64 // the next new id of this task
	step  uint64 // the number of spout tasks
	count uint64 // N
	ended bool   // out.End was called

	// pending holds the ids in flight, and whether each is queued in
	// retry, so that a second Fail does not queue it twice. Memory grows
	// with the ids not yet acked, not with N.
	pending map[uint64]bool
	// retry is a FIFO of failed ids to emit again, from retryHead.
	retry     []uint64
	retryHead int

	limited bool // seq.rate > 0
	bucket  tokenBucket
}

// NewSequenceSpout returns a spout to be configured by Open.
func NewSequenceSpout() *SequenceSpout { return &SequenceSpout{now: time.Now} }

// DeclareOutputFields declares the default stream with field "id".
func (s *SequenceSpout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare(FieldID) }

// Open reads and validates the configuration; a bad value fails here,
// naming its key.
func (s *SequenceSpout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	cfg, err := SpoutConfigFrom(tc.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", ClassSequenceSpout, err)
	}
	tasks := len(tc.ComponentTasks[tc.Component])
	if tasks == 0 {
		tasks = 1 // a context without a task table (tests, tools): one task
	}
	if tc.TaskIndex < 0 || int(tc.TaskIndex) >= tasks {
		return fmt.Errorf("%s: task index %d out of range for %d tasks of %q", ClassSequenceSpout, tc.TaskIndex, tasks, tc.Component)
	}
	s.cfg, s.out = cfg, out
	s.log = tc.Log
	if s.log == nil {
		s.log = slog.Default()
	}
	s.next, s.step, s.count = uint64(tc.TaskIndex), uint64(tasks), uint64(cfg.Count)
	s.pending = make(map[uint64]bool)
	s.retry, s.retryHead, s.ended = nil, 0, false
	if s.now == nil {
		s.now = time.Now
	}
	s.limited = cfg.Rate > 0
	if s.limited {
		s.bucket = newTokenBucket(cfg.Rate/float64(tasks), emitBatch, s.now())
	}
	s.log.Debug("sequence spout open", "ids", cfg.Count, "tasks", tasks, "index", tc.TaskIndex, "rate", cfg.Rate)
	return nil
}

// NextTuple emits up to 64 tuples: failed ids first, oldest failure first,
// then new ids. With a rate limit it emits what the token bucket allows,
// and when that is nothing it sleeps briefly (at most ~1ms) instead of
// spinning. It calls End once, when every id of the task was emitted and
// acked (on the first call when the task has no ids at all).
func (s *SequenceSpout) NextTuple() {
	if s.hasWork() {
		budget := emitBatch
		if s.limited {
			if budget = s.bucket.take(s.now(), budget); budget == 0 {
				time.Sleep(s.bucket.wait(maxIdleSleep))
				return
			}
		}
		n := s.emitRetries(budget)
		if n < budget {
			n += s.emitNew(budget - n)
		}
		if s.limited {
			s.bucket.refund(budget - n) // unused tokens stay available
		}
	}
	// End waits for the task's last tree: the runtime ends a spout whose
	// NextTuple emits nothing after End while nothing is in flight, and
	// with a rate limit a call may emit nothing although failed ids are
	// queued (an empty bucket); ending then lost every queued replay.
	if !s.ended && s.next >= s.count && len(s.pending) == 0 {
		s.ended = true
		s.out.End()
	}
}

// hasWork reports whether a NextTuple call could emit anything. An idle
// spout neither takes tokens nor sleeps.
func (s *SequenceSpout) hasWork() bool {
	return s.retryHead < len(s.retry) || s.next < s.count
}

// emitRetries emits up to budget queued failed ids and returns how many.
func (s *SequenceSpout) emitRetries(budget int) int {
	n := 0
	for n < budget && s.retryHead < len(s.retry) {
		id := s.retry[s.retryHead]
		s.retryHead++
		if s.retryHead == len(s.retry) {
			s.retry, s.retryHead = s.retry[:0], 0 // drained: reuse the array
		}
		if _, ok := s.pending[id]; !ok {
			continue // acked after it failed (a late ack): nothing to replay
		}
		s.pending[id] = false
		s.emit(id)
		n++
	}
	return n
}

// emitNew emits up to budget new ids of this task and returns how many.
func (s *SequenceSpout) emitNew(budget int) int {
	n := 0
	for n < budget && s.next < s.count {
		id := s.next
		s.next += s.step // no overflow: count <= MaxInt64 and step <= MaxInt32
		s.pending[id] = false
		s.emit(id)
		n++
	}
	return n
}

func (s *SequenceSpout) emit(id uint64) { s.out.Emit(id+1, sdk.Int(int64(id))) }

// Ack forgets an id whose tree completed.
func (s *SequenceSpout) Ack(msgID uint64) {
	if msgID != 0 {
		delete(s.pending, msgID-1)
	}
}

// Fail queues an id for replay. Unknown ids (already acked, or never
// emitted by this task) are ignored, and an id already queued is not
// queued twice.
func (s *SequenceSpout) Fail(msgID uint64) {
	if msgID == 0 {
		return
	}
	id := msgID - 1
	queued, ok := s.pending[id]
	if !ok || queued {
		return
	}
	s.pending[id] = true
	if s.retryHead >= 1024 && 2*s.retryHead >= len(s.retry) {
		// Failures keep coming while replays are under way, so the queue
		// never drains: drop the consumed prefix instead of growing.
		s.retry = s.retry[:copy(s.retry, s.retry[s.retryHead:])]
		s.retryHead = 0
	}
	s.retry = append(s.retry, id)
}

// Close does nothing: the spout holds no resources.
func (s *SequenceSpout) Close() error { return nil }

// tokenBucket limits a rate without sleeping: it holds up to burst tokens,
// refills at rate per second of elapsed time, and each emit takes one.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// newTokenBucket returns a full bucket. The burst is one batch, or one
// second's worth when that is less, so a slow rate is not exceeded by a
// whole batch at start, and never below 1 so a rate under 1/s still emits.
func newTokenBucket(rate float64, batch int, now time.Time) tokenBucket {
	burst := math.Max(1, math.Min(rate, float64(batch)))
	return tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take refills the bucket for the time since the last call and takes up to
// want whole tokens, returning how many it took.
func (b *tokenBucket) take(now time.Time, want int) int {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	n := int(b.tokens)
	if n > want {
		n = want
	}
	b.tokens -= float64(n)
	return n
}

// refund returns tokens that were taken but not used.
func (b *tokenBucket) refund(n int) {
	if n > 0 {
		b.tokens = math.Min(b.burst, b.tokens+float64(n))
	}
}

// wait returns how long until the next whole token, at most limit.
func (b *tokenBucket) wait(limit time.Duration) time.Duration {
	d := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	if d > limit || d < 0 {
		return limit
	}
	return d
}
