package transfer

import (
	"context"
	"sync"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Flow control per destination task.
//
// One Transfer stream carries all of a run's traffic from one node to
// another. If the receiver stopped reading it while one destination task's
// queue is full (as HTTP/2 flow control alone would have it), everything
// else on the stream would wait too: tuples for other tasks, acker
// operations, end-of-input markers. Two nodes whose flows cross then
// deadlock: a bolt on A waits for a full queue on B, whose task waits to
// send acks to A, which sit behind tuples for that bolt on A. So the
// receiver never stops reading; instead each sender holds a credit window
// per destination task, in tuples (the run's queue size times its larger
// batch size, announced in the hello: node.Settings.CreditWindow). A batch to a task takes its tuples from
// that task's credit, and the sender waits while the task has none left,
// so only the emitters of that task's tuples wait. The receiver puts what
// arrives in the task's queue, or in an overflow behind it when the queue
// is full (bounded by the credit it gave), and grants the tuples back once
// they are in the queue. Acker operations and markers take no credit.

// grants collects the tuples a stream's receiver took back, per task, and
// sends them to the sender in Credit frames: for a task once half its
// window has come back, so that a busy stream costs one small frame per
// half window, not one per batch. Everything the sender waits for comes
// back eventually (it waits only with a whole window outstanding), so
// nothing is held back for ever.
type grants struct {
	threshold int64
	wake      chan struct{}

	mu      sync.Mutex
	pending map[int32]int64
	due     int // tasks at or above the threshold
	closed  bool
}

func newGrants(window int64) *grants {
	return &grants{threshold: max(window/2, 1), wake: make(chan struct{}, 1), pending: map[int32]int64{}}
}

// Return implements Credits.
func (g *grants) Return(task int32, tuples int) {
	if tuples <= 0 {
		return
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	before := g.pending[task]
	after := before + int64(tuples)
	g.pending[task] = after
	crossed := before < g.threshold && after >= g.threshold
	if crossed {
		g.due++
	}
	g.mu.Unlock()
	if crossed {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// take returns a Credit frame with every task at or above the threshold,
// or nil.
func (g *grants) take() *galev1.Credit {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.due == 0 {
		return nil
	}
	c := &galev1.Credit{}
	for task, n := range g.pending {
		if n >= g.threshold {
			c.Tasks = append(c.Tasks, task)
			c.TaskTuples = append(c.TaskTuples, n)
			delete(g.pending, task)
		}
	}
	g.due = 0
	return c
}

// run sends grants until ctx ends or a send fails.
func (g *grants) run(ctx context.Context, send func(*galev1.TransferResponse) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		}
		if c := g.take(); c != nil {
			if err := send(&galev1.TransferResponse{Frame: &galev1.TransferResponse_Credit{Credit: c}}); err != nil {
				return
			}
		}
	}
}

// close makes later Returns do nothing (the stream ended).
func (g *grants) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// credits is a sender's side: the tuples sent to each destination task
// and not yet granted back, on the current stream.
type credits struct {
	window int64

	mu     sync.Mutex
	cond   *sync.Cond
	out    map[int32]int64
	gen    uint64 // counts resets: credit taken before one is not given back after
	broken bool   // the sender is closed or aborted: waiters give up
}

func newCredits(window int64) *credits {
	c := &credits{window: window, out: map[int32]int64{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// acquire waits until task has credit left and takes n tuples from it (a
// batch may overdraw the window, so that batches are never split). It
// returns the stream generation the credit was taken on, for refund, and
// false if the sender broke meanwhile.
func (c *credits) acquire(task int32, n int) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.broken && c.out[task] >= c.window {
		c.cond.Wait()
	}
	if c.broken {
		return 0, false
	}
	c.out[task] += int64(n)
	return c.gen, true
}

// grant gives tuples back.
func (c *credits) grant(cr *galev1.Credit) {
	tasks, n := cr.GetTasks(), cr.GetTaskTuples()
	if len(n) < len(tasks) {
		tasks = tasks[:len(n)]
	}
	c.mu.Lock()
	for i, task := range tasks {
		// A grant for tuples sent on a stream that has since been
		// replaced could overshoot: never below zero.
		if left := c.out[task] - n[i]; left > 0 {
			c.out[task] = left
		} else {
			delete(c.out, task)
		}
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

// refund gives back n tuples taken for task (on generation gen) that
// were never sent: a send that failed fast, while the sender waits to
// reconnect, or a tuple too large to send. Without it, a window's worth of
// failed sends would leave the task without credit for ever. Credit taken
// before a reset is not given back: the reset already cleared it.
func (c *credits) refund(task int32, n int, gen uint64) {
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return
	}
	if left := c.out[task] - int64(n); left > 0 {
		c.out[task] = left
	} else {
		delete(c.out, task)
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

// reset starts afresh for a new stream: what the old one carried is
// either delivered or lost with it.
func (c *credits) reset() {
	c.mu.Lock()
	c.gen++
	clear(c.out)
	c.mu.Unlock()
	c.cond.Broadcast()
}

// breakAll wakes every waiter for good.
func (c *credits) breakAll() {
	c.mu.Lock()
	c.broken = true
	c.mu.Unlock()
	c.cond.Broadcast()
}
