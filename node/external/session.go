package external

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Errors that end sessions.
var (
	// ErrNoHeartbeat means the process sent nothing for three heartbeat
	// intervals.
	ErrNoHeartbeat = errors.New("no heartbeat")
	// ErrProcessEnded means the process ended its stream.
	ErrProcessEnded = errors.New("the process ended its stream")
	// ErrHookTimeout means the process's heartbeats said that one call of
	// its component's code has run longer than the slot's HookTimeout.
	ErrHookTimeout = errors.New("a call of the component did not return in time")
)

// Session is one attached process running one task. Frames() and Send are
// for the task's executor only.
type Session interface {
	// Hello is what the process said it is.
	Hello() *galev1.AttachHello
	// Frames delivers the process's frames; it is closed when the session
	// ends (Err then says why).
	Frames() <-chan *galev1.AttachRequest
	// Send queues a frame for the process; it never blocks. It reports
	// false once the session has ended.
	Send(f *galev1.AttachResponse) bool
	// Close ends the session: a nil err ends the stream with an OK status
	// after every queued frame was sent; otherwise the stream ends at once
	// with err.
	Close(err error)
	// Done is closed when the session has ended.
	Done() <-chan struct{}
	// Err is why the session ended (nil while it runs, or after a clean
	// Close(nil)).
	Err() error
}

// streamSession is a Session over an Attach gRPC stream.
type streamSession struct {
	hello     *galev1.AttachHello
	stream    galev1.AttachService_AttachServer
	heartbeat time.Duration
	// hookTimeout bounds one call of the component's code, as the
	// process's heartbeats report it (0: unbounded).
	hookTimeout time.Duration

	frames chan *galev1.AttachRequest

	mu       sync.Mutex
	out      []*galev1.AttachResponse
	wake     chan struct{} // the writer has frames to send
	closing  bool          // Close(nil): end after the queue drains
	err      error
	done     chan struct{}
	doneOnce sync.Once

	lastRecv atomic.Int64 // unix nanos of the last frame from the process
	lastSend atomic.Int64 // unix nanos of the last frame sent
}

func newStreamSession(hello *galev1.AttachHello, stream galev1.AttachService_AttachServer, heartbeat, hookTimeout time.Duration) *streamSession {
	s := &streamSession{
		hello:       hello,
		stream:      stream,
		heartbeat:   heartbeat,
		hookTimeout: hookTimeout,
		frames:      make(chan *galev1.AttachRequest, 16),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	now := time.Now().UnixNano()
	s.lastRecv.Store(now)
	s.lastSend.Store(now)
	return s
}

func (s *streamSession) Hello() *galev1.AttachHello           { return s.hello }
func (s *streamSession) Frames() <-chan *galev1.AttachRequest { return s.frames }
func (s *streamSession) Done() <-chan struct{}                { return s.done }

func (s *streamSession) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *streamSession) Send(f *galev1.AttachResponse) bool {
	s.mu.Lock()
	if s.closing || s.isDone() {
		s.mu.Unlock()
		return false
	}
	s.out = append(s.out, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

func (s *streamSession) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *streamSession) Close(err error) {
	s.mu.Lock()
	if err == nil {
		s.closing = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		return
	}
	s.mu.Unlock()
	s.end(err)
}

// end records why the session ended (the first reason wins) and releases
// everything waiting on it.
func (s *streamSession) end(err error) {
	s.doneOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		s.out = nil
		s.mu.Unlock()
		close(s.done)
	})
}

// serve runs the session until it ends: it reads the process's frames on
// this goroutine and writes queued frames and heartbeats on another. It
// returns the error to end the RPC with (nil: OK).
func (s *streamSession) serve() error {
	writeErr := make(chan error, 1)
	go func() { writeErr <- s.write() }()
	readErr := make(chan error, 1)
	go func() { readErr <- s.read() }()
	var err error
	select {
	case err = <-writeErr:
		// Queue drained after Close(nil) (err nil), or a send failed.
		if err == nil {
			s.end(nil)
		} else {
			s.end(fmt.Errorf("sending to the process: %w", err))
		}
	case err = <-readErr:
		s.end(err)
	case <-s.done:
		err = s.Err()
	}
	// The reader goroutine returns when the RPC ends (its Recv fails once
	// this handler returns), so it is not waited for here.
	return err
}

// read pumps frames from the process into s.frames.
func (s *streamSession) read() error {
	defer close(s.frames)
	for {
		f, err := s.stream.Recv()
		if err != nil {
			if s.isDone() {
				return s.Err()
			}
			if isEOF(err) {
				return ErrProcessEnded
			}
			return fmt.Errorf("receiving from the process: %w", err)
		}
		s.lastRecv.Store(time.Now().UnixNano())
		if hb := f.GetHeartbeat(); hb != nil {
			if err := s.checkBusy(hb); err != nil {
				s.end(err)
				return err
			}
			continue
		}
		select {
		case s.frames <- f:
		case <-s.done:
			return s.Err()
		}
	}
}

// checkBusy returns ErrHookTimeout when heartbeat hb says that a call of
// the component has run longer than the session allows: its SDK heartbeats
// from another thread (or between awaits), so the process looks alive
// while the call never returns, and the task would get nothing done for
// ever.
func (s *streamSession) checkBusy(hb *galev1.Heartbeat) error {
	busy := time.Duration(hb.GetBusyMillis()) * time.Millisecond
	if s.hookTimeout <= 0 || busy <= s.hookTimeout {
		return nil
	}
	hook := hb.GetBusyIn()
	if hook == "" {
		hook = "hook"
	}
	return fmt.Errorf("%w: its %s has not returned for %v", ErrHookTimeout, hook, busy.Round(100*time.Millisecond))
}

// write sends queued frames, heartbeats when idle, and watches the
// process's heartbeat.
func (s *streamSession) write() error {
	tick := time.NewTicker(s.heartbeat / 4)
	defer tick.Stop()
	hb := &galev1.AttachResponse{Frame: &galev1.AttachResponse_Heartbeat{Heartbeat: &galev1.Heartbeat{}}}
	for {
		s.mu.Lock()
		batch := s.out
		s.out = nil
		closing := s.closing
		s.mu.Unlock()
		for _, f := range batch {
			if err := s.stream.Send(f); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			s.lastSend.Store(time.Now().UnixNano())
			continue
		}
		if closing {
			return nil
		}
		select {
		case <-s.wake:
		case <-s.done:
			return nil
		case <-tick.C:
			now := time.Now().UnixNano()
			if silent := time.Duration(now - s.lastRecv.Load()); silent > 3*s.heartbeat {
				s.end(fmt.Errorf("%w for %v (the process must send a frame at least every %v)", ErrNoHeartbeat, silent.Round(time.Millisecond), s.heartbeat))
				return nil
			}
			if time.Duration(now-s.lastSend.Load()) >= s.heartbeat {
				if err := s.stream.Send(hb); err != nil {
					return err
				}
				s.lastSend.Store(now)
			}
		}
	}
}
