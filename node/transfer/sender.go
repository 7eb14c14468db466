package transfer

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
)

// Sender sends one topology run's frames to one remote node over one
// Transfer stream. It is safe for concurrent use: the executors of all
// local tasks that emit to that node share it, and frames are sent whole,
// one at a time, in the order Send calls obtain the lock. SendTuples waits
// for credit for its destination task first (see credit.go), outside that
// lock, so acker operations and markers never wait behind tuples.
type Sender struct {
	conn       *grpc.ClientConn
	localNode  string
	topologyID string
	onMoved    func(*galev1.TaskMoved)
	credits    *credits

	aborted  atomic.Bool
	cancelMu sync.Mutex         // guards cancelFn, which Abort uses without mu
	cancelFn context.CancelFunc // the current stream's, for Abort

	mu       sync.Mutex
	stream   galev1.TransferService_TransferClient
	cancel   context.CancelFunc
	failedAt time.Time
	backoff  time.Duration
	lastErr  error // why the last open failed, told with each send refused in its backoff
	closed   bool
	// markers are the end-of-input markers sent so far. A marker lost
	// with a broken stream would leave its downstream tasks waiting for
	// ever, so every new stream carries them all again (receivers ignore
	// repeats), and while there are any, a broken stream is reopened at
	// once (reconnect) rather than at the next send, which may never come.
	markers      []*galev1.TaskEndOfInput
	reconnecting bool
	quit         chan struct{} // closed by Close and Abort
	quitOnce     sync.Once
	wg           sync.WaitGroup // the reconnect goroutine
}

// ErrUnavailable means the remote node cannot be reached right now; the
// caller fails the trees of what it tried to send.
var ErrUnavailable = errors.New("remote node unavailable")

// NewSender makes a sender over conn (the connection may be shared with
// other runs). window is the credit per destination task (Gale uses a
// queue of full remote batches in tuples and the queue's byte bound in
// bytes). onMoved,
// if set, is called with the trees of tuples the remote node rejected
// because it does not run their task; it must not block for long (it
// runs on the goroutine that reads credit).
func NewSender(conn *grpc.ClientConn, localNode, topologyID string, window Window, onMoved func(*galev1.TaskMoved)) *Sender {
	return &Sender{conn: conn, localNode: localNode, topologyID: topologyID, onMoved: onMoved, credits: newCredits(window), quit: make(chan struct{})}
}

// open opens the stream; called with s.mu held. After a failure it waits
// out a backoff (doubling to 1s) before trying again, failing fast
// meanwhile, so that a dead node costs its senders nothing per batch.
func (s *Sender) open() error {
	if s.closed || s.aborted.Load() {
		return fmt.Errorf("%w: sender closed", ErrUnavailable)
	}
	if s.stream != nil {
		return nil
	}
	if !s.failedAt.IsZero() && time.Since(s.failedAt) < s.backoff {
		if s.lastErr != nil {
			return fmt.Errorf("%w: reconnecting to %s (the last try: %v)", ErrUnavailable, s.conn.Target(), s.lastErr)
		}
		return fmt.Errorf("%w: reconnecting to %s", ErrUnavailable, s.conn.Target())
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := galev1.NewTransferServiceClient(s.conn).Transfer(ctx)
	if err == nil {
		// Commit the stream now: until a stream is committed (by the
		// server's headers, which a Transfer server sends only with its
		// first response, or by 256 KiB of messages), gRPC keeps every
		// message sent on it to replay on another connection. Frames are
		// an encoder's reused buffers (see send), so a kept frame pins its
		// encoder: a stream of small acker frames pinned thousands of
		// encoders that other sends had grown to a 1 MiB tuple each (over
		// a gigabyte in TestLargeTuplesAcrossNodesDoNotFillMemory), and a
		// replay would have sent what the encoder held by then. Context
		// commits it ("subsequent client-side retries are disabled").
		st.Context()
	}
	if err == nil {
		err = st.Send(&galev1.TransferRequest{Frame: &galev1.TransferRequest_Hello{Hello: &galev1.TransferHello{Node: s.localNode, TopologyId: s.topologyID, CreditWindow: s.credits.window.Tuples, CreditWindowBytes: s.credits.window.Bytes}}})
	}
	for _, m := range s.markers {
		if err != nil {
			break
		}
		err = st.Send(&galev1.TransferRequest{Frame: &galev1.TransferRequest_EndOfInput{EndOfInput: m}})
	}
	if err != nil {
		cancel()
		s.fail()
		s.lastErr = err
		return fmt.Errorf("%w: open Transfer stream to %s: %v", ErrUnavailable, s.conn.Target(), err)
	}
	s.stream, s.cancel, s.lastErr = st, cancel, nil
	s.cancelMu.Lock()
	s.cancelFn = cancel
	s.cancelMu.Unlock()
	s.backoff = 0
	go func() {
		// Not the labels of the task that happened to open the stream.
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("transfer-to", s.conn.Target(), "transfer-run", s.topologyID)))
		s.readResponses(st, cancel)
	}()
	if s.credits.window.Bytes > 0 {
		// The byte window holds once the receiver says it grants bytes
		// (credit.go); it does so at once, so wait a round trip for it
		// rather than send the first frames unbounded by bytes. A
		// receiver from before byte windows never says so: after
		// announceWait the stream goes on, waiting on tuples only.
		s.credits.awaitBytesGranted(announceWait)
	}
	return nil
}

// announceWait bounds the wait at a stream's open for the receiver to
// say that it grants bytes back.
const announceWait = time.Second

func (s *Sender) fail() {
	if s.cancel != nil {
		s.cancel()
	}
	s.stream, s.cancel = nil, nil
	s.failedAt = time.Now()
	s.backoff = min(max(2*s.backoff, 50*time.Millisecond), time.Second)
	// Senders waiting for credit of the broken stream go on: their sends
	// fail fast, or open the next stream with a fresh window.
	s.credits.reset()
	s.kick()
}

// kick starts the reconnect goroutine if the sender owes markers and has
// no stream; called with s.mu held.
func (s *Sender) kick() {
	if len(s.markers) > 0 && s.stream == nil && !s.reconnecting && !s.closed && !s.aborted.Load() {
		s.reconnecting = true
		s.wg.Add(1)
		go s.reconnect()
	}
}

// reconnect reopens a broken stream that owes markers, after the backoff,
// until it is open again or the sender is closed.
func (s *Sender) reconnect() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		wait := s.backoff - time.Since(s.failedAt)
		s.mu.Unlock()
		select {
		case <-s.quit:
			s.mu.Lock()
			s.reconnecting = false
			s.mu.Unlock()
			return
		case <-time.After(max(wait, 0)):
		}
		s.mu.Lock()
		if s.stream != nil || s.closed || s.aborted.Load() {
			s.reconnecting = false
			s.mu.Unlock()
			return
		}
		// open may fail through fail, whose kick must not start a
		// second goroutine: this one tries again.
		err := s.open()
		again := err != nil && !s.closed && !s.aborted.Load()
		if !again {
			s.reconnecting = false
		}
		s.mu.Unlock()
		if !again {
			return
		}
	}
}

func (s *Sender) readResponses(st galev1.TransferService_TransferClient, cancel context.CancelFunc) {
	defer cancel()
	for {
		resp, err := st.Recv()
		if err != nil {
			s.mu.Lock()
			if s.stream == st {
				s.fail()
			}
			s.mu.Unlock()
			return
		}
		switch f := resp.GetFrame().(type) {
		case *galev1.TransferResponse_Credit:
			s.credits.grant(f.Credit)
		case *galev1.TransferResponse_Rejected:
			if s.onMoved != nil {
				s.onMoved(f.Rejected)
			}
		}
	}
}

func (s *Sender) send(frame *galev1.TransferFrame) error {
	if s.aborted.Load() {
		return fmt.Errorf("%w: sender aborted", ErrUnavailable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	// SendMsg encodes the frame before it returns, so the caller may
	// reuse the frame's buffers afterwards, as long as no stats handler
	// or interceptor keeps messages (see coordinator.DialOptions).
	if err := s.stream.SendMsg(frame); err != nil {
		s.fail()
		return fmt.Errorf("%w: send to %s: %v", ErrUnavailable, s.conn.Target(), err)
	}
	return nil
}

// encoders are shared by all senders: a frame is encoded outside the
// sender's lock, by the executor that sends it.
var encoders = sync.Pool{New: func() any { return new(encoder) }}

func getEncoder() *encoder { return encoders.Get().(*encoder) }

// putEncoder returns e to the pool, unless a rare huge frame (an acker
// handing its trees over) grew its buffers past what batches need.
func putEncoder(e *encoder) {
	if cap(e.body) <= 1<<20 && cap(e.column) <= 1<<20 {
		encoders.Put(e)
	}
}

// SendTuples sends the tuples of b, addressed to dest, as one frame (or
// several, for a batch of large tuples: framesize.go), waiting while dest
// has no credit left. The caller keeps b (and releases it). On a
// *TooLargeError the tuples it names were not sent and the others were;
// on any other error, none of it may be assumed delivered (though frames
// of a split batch sent before the error may be: the caller's replay then
// delivers them twice, as at-least-once allows).
func (s *Sender) SendTuples(dest int32, b *router.Batch) error {
	gen, ok := s.credits.acquire(dest, len(b.Tuples), b.ValueBytes)
	if !ok {
		return fmt.Errorf("%w: sender closed", ErrUnavailable)
	}
	if b.ValueBytes > splitFrameBytes {
		return s.sendSplit(dest, b, gen) // large tuples: rare, see framesize.go
	}
	e := getEncoder()
	defer putEncoder(e)
	if err := s.send(e.packedFrame(dest, b)); err != nil {
		s.credits.refund(dest, len(b.Tuples), b.ValueBytes, gen)
		return err
	}
	return nil
}

// SendAcks sends acker operations as one frame, with what meta says (see
// galev1.AckBatch).
func (s *Sender) SendAcks(ops []router.AckOp, meta AckMeta) error {
	e := getEncoder()
	defer putEncoder(e)
	for len(ops) > maxAcksPerFrame {
		if err := s.send(e.acksFrame(ops[:maxAcksPerFrame], meta)); err != nil {
			return err
		}
		ops = ops[maxAcksPerFrame:]
	}
	return s.send(e.acksFrame(ops, meta))
}

// SendEndOfInput sends a task's end-of-input marker to remote tasks. The
// sender keeps it and sends it again on every new stream, so it arrives
// (perhaps more than once) even if this send fails: the error only tells
// that it did not go out now.
func (s *Sender) SendEndOfInput(from int32, to []int32) error {
	m := &galev1.TaskEndOfInput{FromTask: from, ToTasks: append([]int32(nil), to...)}
	if s.aborted.Load() {
		return fmt.Errorf("%w: sender aborted", ErrUnavailable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	known := false
	for _, k := range s.markers {
		if k.GetFromTask() == m.GetFromTask() && slices.Equal(k.GetToTasks(), m.GetToTasks()) {
			known = true // sent again (the task moved): kept once
		}
	}
	if !known {
		s.markers = append(s.markers, m)
	}
	if s.stream == nil {
		// open sends every marker, this one included.
		if err := s.open(); err != nil {
			s.kick() // the reconnect goroutine takes it from here
			return err
		}
		return nil
	}
	if err := s.stream.Send(&galev1.TransferRequest{Frame: &galev1.TransferRequest_EndOfInput{EndOfInput: m}}); err != nil {
		s.fail()
		return fmt.Errorf("%w: send to %s: %v", ErrUnavailable, s.conn.Target(), err)
	}
	return nil
}

// Markers returns the end-of-input markers sent so far, for a sender that
// takes this one's place (the node came back at another address).
func (s *Sender) Markers() []*galev1.TaskEndOfInput {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.markers)
}

// AdoptMarkers makes the sender owe ms as if it had sent them: it sends
// them on its next stream (opened at once).
func (s *Sender) AdoptMarkers(ms []*galev1.TaskEndOfInput) {
	if len(ms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markers = append(s.markers, ms...)
	if s.stream == nil && s.open() != nil {
		s.kick()
	}
}

// Abort breaks the stream at once, unblocking a send waiting on a receiver
// that does not read, and makes every later send fail. It does not wait
// for the lock a blocked send holds.
func (s *Sender) Abort() {
	s.aborted.Store(true)
	s.quitOnce.Do(func() { close(s.quit) })
	s.credits.breakAll()
	s.cancelMu.Lock()
	if s.cancelFn != nil {
		s.cancelFn()
	}
	s.cancelMu.Unlock()
}

// Close ends the stream (the receiver sees a clean end) and waits for a
// reconnect in progress to give up; safe to call twice.
func (s *Sender) Close() error {
	s.credits.breakAll()
	s.mu.Lock()
	s.closed = true // no reconnect starts from now on
	s.mu.Unlock()
	s.quitOnce.Do(func() { close(s.quit) })
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		// CloseSend flushes; the receiver then ends the stream, and
		// readResponses, seeing that, releases the stream's context.
		err := s.stream.CloseSend()
		s.stream, s.cancel = nil, nil
		return err
	}
	return nil
}
