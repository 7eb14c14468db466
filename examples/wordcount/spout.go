package wordcount

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// sample is the input used when wordcount.input is unset, so that the
// example runs with no arguments at all.
//
//go:embed sample.txt
var sample string

// sampleName names the bundled sample in logs and errors.
const sampleName = "bundled sample.txt"

// maxIdleSleep bounds the sleep of a rate-limited NextTuple that may not
// emit yet: long enough not to spin, short enough that the runtime's loop
// (acks, fails, shutdown) is never held up.
const maxIdleSleep = time.Millisecond

// readBufferSize is the spout's read buffer. Lines longer than it still
// work; it only sets the size of one read system call.
const readBufferSize = 64 << 10

// SpoutConfig is the configuration of a SentenceSpout task.
type SpoutConfig struct {
	// Input is the path of the sentence file, one sentence a line. Empty
	// means the bundled sample. Key wordcount.input.
	Input string
	// Batch is the most tuples one NextTuple call emits, replays included,
	// so that a call returns quickly and the runtime can deliver acks and
	// fails in between. Key wordcount.batch, default 64, at least 1.
	Batch int
	// Rate is the most sentences a task emits per second, replays
	// included; 0 means unlimited. Key wordcount.rate, default 0.
	Rate float64
	// MaxRetries is how many failures a line survives: a line that fails
	// more than MaxRetries times is dropped with a logged error. -1 means
	// replay forever. Key wordcount.max_retries, default -1.
	MaxRetries int
}

// DefaultSpoutConfig returns the defaults: the bundled sample, batches of
// 64, no rate limit, unlimited replays.
func DefaultSpoutConfig() SpoutConfig {
	return SpoutConfig{Batch: 64, Rate: 0, MaxRetries: -1}
}

// Validate reports the first setting that is out of range, by its key.
func (c SpoutConfig) Validate() error {
	switch {
	case c.Batch < 1:
		return fmt.Errorf("config %s: must be at least 1, got %d", KeyBatch, c.Batch)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("config %s: must be a finite number >= 0 (0: unlimited), got %v", KeyRate, c.Rate)
	case c.MaxRetries < -1:
		return fmt.Errorf("config %s: must be >= -1 (-1: unlimited), got %d", KeyMaxRetries, c.MaxRetries)
	}
	return nil
}

// SpoutConfigFrom reads a SpoutConfig from a task's config, starting from
// DefaultSpoutConfig, and validates it.
func SpoutConfigFrom(conf sdk.Config) (SpoutConfig, error) {
	c := DefaultSpoutConfig()
	c.Input = conf.String(KeyInput, c.Input)
	batch, err := conf.Int(KeyBatch, int64(c.Batch))
	if err != nil {
		return c, err
	}
	if batch > math.MaxInt32 {
		batch = math.MaxInt32 // "very large" means "no practical bound"
	}
	c.Batch = int(batch)
	if c.Rate, err = conf.Float(KeyRate, c.Rate); err != nil {
		return c, err
	}
	retries, err := conf.Int(KeyMaxRetries, int64(c.MaxRetries))
	if err != nil {
		return c, err
	}
	if retries > math.MaxInt32 {
		retries = math.MaxInt32
	}
	c.MaxRetries = int(retries)
	return c, c.Validate()
}

// SentenceSpout emits the lines of a file as "sentence" tuples, reliably,
// with message id = 0-based line number + 1. See the package documentation
// for the full contract. Like every spout, it is driven from one goroutine
// and needs no locking.
type SentenceSpout struct {
	cfg  SpoutConfig
	log  *slog.Logger
	out  *sdk.SpoutCollector
	name string // the input's name for logs: its path or sampleName

	// now is the token bucket's clock; tests replace it before Open.
	now func() time.Time
	// sleep waits for a token (time.Sleep; tests record what it asks).
	sleep func(time.Duration)

	src         io.Closer // the open input file; nil for the sample or once read
	r           *bufio.Reader
	lineNo      uint64 // 0-based number of the next line in the file
	task, tasks uint64 // this task's index and the number of spout tasks
	eof         bool   // every line was read
	ended       bool   // out.End was called

	// A line read ahead while rate-limited (see NextTuple), emitted next.
	ahead     string
	aheadID   uint64
	haveAhead bool

	// pending holds the lines in flight, by message id, and nothing else:
	// memory grows with the lines not yet acked, not with the file.
	pending map[uint64]pendingLine
	// retry is a FIFO of failed message ids to emit again, from retryHead.
	retry     []uint64
	retryHead int

	bucket tokenBucket
}

// pendingLine is a line in flight.
type pendingLine struct {
	line   string
	fails  int32
	queued bool // in the retry queue: a second Fail must not queue it twice
}

// NewSentenceSpout returns a spout to be configured by Open.
func NewSentenceSpout() *SentenceSpout { return &SentenceSpout{now: time.Now, sleep: time.Sleep} }

// DeclareOutputFields declares the default stream with field "sentence".
func (s *SentenceSpout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("sentence") }

// Open reads the configuration and opens the input file. A missing or
// unreadable file fails here, with its path, rather than later in
// NextTuple.
func (s *SentenceSpout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	cfg, err := SpoutConfigFrom(tc.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", ClassSentenceSpout, err)
	}
	tasks := len(tc.ComponentTasks[tc.Component])
	if tasks == 0 {
		tasks = 1 // a context without a task table (tests, tools): one task
	}
	if tc.TaskIndex < 0 || int(tc.TaskIndex) >= tasks {
		return fmt.Errorf("%s: task index %d out of range for %d tasks of %q", ClassSentenceSpout, tc.TaskIndex, tasks, tc.Component)
	}
	s.cfg, s.out = cfg, out
	s.log = tc.Log
	if s.log == nil {
		s.log = slog.Default()
	}
	s.task, s.tasks = uint64(tc.TaskIndex), uint64(tasks)
	s.pending = make(map[uint64]pendingLine)
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = time.Sleep
	}
	if cfg.Rate > 0 {
		s.bucket = newTokenBucket(cfg.Rate, cfg.Batch, s.now())
	}

	if cfg.Input == "" {
		s.name = sampleName
		s.r = bufio.NewReader(strings.NewReader(sample))
		return nil
	}
	s.name = cfg.Input
	f, err := os.Open(cfg.Input)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in our message already; keep errors.Is working
		}
		return fmt.Errorf("%s: open sentence input %q (%s): %w", ClassSentenceSpout, cfg.Input, KeyInput, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return fmt.Errorf("%s: sentence input %q (%s) is a directory, want a file", ClassSentenceSpout, cfg.Input, KeyInput)
	}
	s.src = f
	s.r = bufio.NewReaderSize(f, readBufferSize)
	return nil
}

// NextTuple emits up to Batch tuples: failed lines first, oldest failure
// first, then new lines. With a rate limit it emits what the token bucket
// allows, and when that is nothing it sleeps briefly (at most ~1ms) instead
// of spinning; once the file ended, replays are not rate limited.
func (s *SentenceSpout) NextTuple() {
	budget := s.cfg.Batch
	// Once the file ended only replays are left, and they go at once, not
	// as tokens allow: the runtime ends a spout whose NextTuple emits
	// nothing after End while nothing is pending, so a replay waiting for
	// a token when its fail came would have been lost.
	limited := s.cfg.Rate > 0 && !s.eof
	if limited {
		if !s.hasWork() {
			return // idle: neither take tokens nor sleep
		}
		if budget = s.bucket.take(s.now(), budget); budget == 0 {
			// Read one line ahead even without a token, so that the end of
			// input is declared when the file ends, not one token later
			// (which at a slow rate could be minutes).
			s.lookAhead()
			if s.hasWork() {
				s.sleep(s.bucket.wait(maxIdleSleep))
			}
			return
		}
	}
	n := s.emitRetries(budget)
	if n < budget {
		n += s.emitNew(budget - n)
	}
	if limited {
		s.bucket.refund(budget - n) // unused tokens stay available
	}
}

// hasWork reports whether a NextTuple call could emit anything.
func (s *SentenceSpout) hasWork() bool {
	return s.retryHead < len(s.retry) || s.haveAhead || !s.eof
}

// lookAhead reads this task's next line into the look-ahead slot, unless
// it holds one already or the input has ended.
func (s *SentenceSpout) lookAhead() {
	if s.haveAhead || s.eof {
		return
	}
	s.aheadID, s.ahead, s.haveAhead = s.readOwnLine()
}

// emitRetries emits up to budget queued failed lines and returns how many.
func (s *SentenceSpout) emitRetries(budget int) int {
	n := 0
	for n < budget && s.retryHead < len(s.retry) {
		id := s.retry[s.retryHead]
		s.retryHead++
		if s.retryHead == len(s.retry) {
			s.retry, s.retryHead = s.retry[:0], 0 // drained: reuse the array
		}
		p, ok := s.pending[id]
		if !ok {
			continue // acked after it failed (a late ack): nothing to replay
		}
		p.queued = false
		s.pending[id] = p
		s.out.Emit(id, sdk.String(p.line))
		n++
	}
	return n
}

// emitNew reads and emits up to budget new lines of this task and returns
// how many.
func (s *SentenceSpout) emitNew(budget int) int {
	n := 0
	for n < budget {
		id, line, ok := s.aheadID, s.ahead, s.haveAhead
		if ok {
			s.ahead, s.haveAhead = "", false
		} else if !s.eof {
			id, line, ok = s.readOwnLine()
		}
		if !ok {
			break
		}
		s.pending[id] = pendingLine{line: line}
		s.out.Emit(id, sdk.String(line))
		n++
	}
	return n
}

// readOwnLine returns the next line that belongs to this task, with its
// message id, skipping the other tasks' lines. At the end of the file it
// closes the input and declares end of input.
func (s *SentenceSpout) readOwnLine() (id uint64, line string, ok bool) {
	for s.lineNo%s.tasks != s.task {
		if !s.skipLine() {
			return 0, "", false
		}
	}
	line, err := s.r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		// A partial line before a read error is not a line we can vouch for.
		s.finishInput(err)
		return 0, "", false
	}
	s.lineNo++
	if strings.HasSuffix(line, "\n") {
		line = line[:len(line)-1]
		line = strings.TrimSuffix(line, "\r")
	}
	return s.lineNo, line, true // lineNo is now the 0-based number + 1
}

// skipLine reads past one line without keeping it (ReadSlice, so skipping
// the other tasks' lines allocates nothing). It reports false at the end of
// the input.
func (s *SentenceSpout) skipLine() bool {
	read := false
	for {
		b, err := s.r.ReadSlice('\n')
		switch {
		case err == nil:
			s.lineNo++
			return true
		case err == bufio.ErrBufferFull:
			read = true // a line longer than the buffer: keep reading it
		case err == io.EOF && (read || len(b) > 0):
			s.lineNo++ // a last line without "\n"; the next read ends the input
			return true
		default:
			s.finishInput(err)
			return false
		}
	}
}

// finishInput handles the end of the input: a read error is logged and
// reported (never dropped silently), the file is closed, and end of input
// is declared exactly once. Failed lines still replay afterwards.
func (s *SentenceSpout) finishInput(err error) {
	s.eof = true
	if err != io.EOF {
		err = fmt.Errorf("%s: read %s after line %d: %w", ClassSentenceSpout, s.name, s.lineNo, err)
		s.log.Error("sentence input ends early on a read error", "input", s.name, "lines", s.lineNo, "err", err)
		s.out.ReportError(err)
	}
	s.closeInput()
	if !s.ended {
		s.ended = true
		s.out.End()
	}
}

// Ack forgets a line whose tree completed.
func (s *SentenceSpout) Ack(msgID uint64) { delete(s.pending, msgID) }

// Fail queues a line for replay, or drops it with a logged error once it
// has failed more than MaxRetries times. Unknown ids (already acked or
// dropped) are ignored.
func (s *SentenceSpout) Fail(msgID uint64) {
	p, ok := s.pending[msgID]
	if !ok {
		return
	}
	p.fails++
	if s.cfg.MaxRetries >= 0 && int(p.fails) > s.cfg.MaxRetries {
		delete(s.pending, msgID)
		times := "failures"
		if p.fails == 1 {
			times = "failure"
		}
		err := fmt.Errorf("%s: dropping line %d of %s after %d %s (%s=%d)",
			ClassSentenceSpout, msgID, s.name, p.fails, times, KeyMaxRetries, s.cfg.MaxRetries)
		s.log.Error("dropping sentence after too many failures",
			"line", msgID, "input", s.name, "failures", p.fails, "max_retries", s.cfg.MaxRetries)
		s.out.ReportError(err)
		return
	}
	if !p.queued {
		p.queued = true
		if s.retryHead >= 1024 && 2*s.retryHead >= len(s.retry) {
			// Failures keep coming while replays are under way, so the queue
			// never drains: drop the consumed prefix instead of growing.
			s.retry = s.retry[:copy(s.retry, s.retry[s.retryHead:])]
			s.retryHead = 0
		}
		s.retry = append(s.retry, msgID)
	}
	s.pending[msgID] = p
}

// Close closes the input file if it is still open.
func (s *SentenceSpout) Close() error { return s.closeInput() }

func (s *SentenceSpout) closeInput() error {
	if s.src == nil {
		return nil
	}
	err := s.src.Close()
	s.src = nil
	return err
}

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
