package transfer

import (
	"context"
	"sync"
	"time"

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
//
// A window counts bytes too (the bytes of string and bytes values, as
// router.Batch.ValueBytes counts them; node.Settings.CreditWindowBytes):
// counted in tuples alone, a window of 32,768 tuples of 1 MiB is 32 GiB
// that a receiver's overflow would have to hold. The sender waits while
// either count is spent, and the receiver grants both back. A receiver
// says that it does before any tuple (Credit.counts_bytes); until a
// stream's receiver has, its sender counts bytes but waits on tuples
// only, since a receiver from before byte windows never grants bytes
// and would leave it waiting for ever. Sender.open waits a moment for
// the announcement, so the byte window holds from a stream's first frame.

// grants collects the tuples (and their bytes) a stream's receiver took
// back, per task, and sends them to the sender in Credit frames: for a
// task once half its window of either has come back, so that a busy stream costs one small frame per
// half window, not one per batch. Everything the sender waits for comes
// back eventually (it waits only with a whole window outstanding), so
// nothing is held back for ever.
type grants struct {
	threshold     int64 // tuples
	byteThreshold int64 // bytes; 0 when the sender counts none
	wake          chan struct{}

	mu      sync.Mutex
	pending map[int32]credit
	due     int // tasks at or above a threshold
	closed  bool
}

// credit is an amount of tuples and of bytes of their values.
type credit struct{ tuples, bytes int64 }

func newGrants(w Window) *grants {
	g := &grants{threshold: max(w.Tuples/2, 1), wake: make(chan struct{}, 1), pending: map[int32]credit{}}
	if w.Bytes > 0 {
		g.byteThreshold = max(w.Bytes/2, 1)
	}
	return g
}

// over reports whether c is at or above a threshold.
func (g *grants) over(c credit) bool {
	return c.tuples >= g.threshold || (g.byteThreshold > 0 && c.bytes >= g.byteThreshold)
}

// Return implements Credits.
func (g *grants) Return(task int32, tuples, bytes int) {
	if tuples <= 0 && bytes <= 0 {
		return
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	before := g.pending[task]
	after := credit{before.tuples + int64(tuples), before.bytes + int64(bytes)}
	g.pending[task] = after
	crossed := !g.over(before) && g.over(after)
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
		if g.over(n) {
			c.Tasks = append(c.Tasks, task)
			c.TaskTuples = append(c.TaskTuples, n.tuples)
			if g.byteThreshold > 0 {
				c.TaskBytes = append(c.TaskBytes, n.bytes)
			}
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

// Window is a sender's credit per destination task.
type Window struct {
	// Tuples is the credit in tuples (at least 1).
	Tuples int64
	// Bytes is the credit in bytes of string and bytes values; 0 counts
	// none.
	Bytes int64
}

// credits is a sender's side: the tuples (and their bytes) sent to each
// destination task and not yet granted back, on the current stream.
type credits struct {
	window Window

	mu     sync.Mutex
	cond   *sync.Cond
	out    map[int32]credit
	gen    uint64 // counts resets: credit taken before one is not given back after
	broken bool   // the sender is closed or aborted: waiters give up
	// bytesGranted says the current stream's receiver grants bytes back
	// (Credit.counts_bytes): only then does the byte window hold.
	bytesGranted bool
}

func newCredits(w Window) *credits {
	w.Tuples = max(w.Tuples, 1)
	w.Bytes = max(w.Bytes, 0)
	c := &credits{window: w, out: map[int32]credit{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// awaitBytesGranted waits until the stream's receiver has said that it
// grants bytes back, for at most d (a receiver from before byte windows
// never says so), or until the sender breaks.
func (c *credits) awaitBytesGranted(d time.Duration) {
	deadline := time.Now().Add(d)
	// Under the lock, so that the wake-up cannot fall between the check
	// of the deadline and Wait.
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer t.Stop()
	c.mu.Lock()
	for !c.bytesGranted && !c.broken && time.Now().Before(deadline) {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// spent reports whether o leaves no credit.
func (c *credits) spent(o credit) bool {
	return o.tuples >= c.window.Tuples || (c.bytesGranted && c.window.Bytes > 0 && o.bytes >= c.window.Bytes)
}

// acquire waits until task has credit left and takes n tuples of bytes
// bytes from it (a batch may overdraw the window, so that batches are
// never split). It returns the stream generation the credit was taken on,
// for refund, and false if the sender broke meanwhile.
func (c *credits) acquire(task int32, n, bytes int) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.broken && c.spent(c.out[task]) {
		c.cond.Wait()
	}
	if c.broken {
		return 0, false
	}
	o := c.out[task]
	c.out[task] = credit{o.tuples + int64(n), o.bytes + int64(bytes)}
	return c.gen, true
}

// giveBack takes g off task's outstanding credit; called with c.mu held.
// A grant for tuples sent on a stream that has since been replaced could
// overshoot: never below zero.
func (c *credits) giveBack(task int32, g credit) {
	o := c.out[task]
	o.tuples = max(o.tuples-g.tuples, 0)
	o.bytes = max(o.bytes-g.bytes, 0)
	if o == (credit{}) {
		delete(c.out, task)
	} else {
		c.out[task] = o
	}
}

// grant gives tuples and bytes back.
func (c *credits) grant(cr *galev1.Credit) {
	tasks, n, b := cr.GetTasks(), cr.GetTaskTuples(), cr.GetTaskBytes()
	if len(n) < len(tasks) {
		tasks = tasks[:len(n)]
	}
	c.mu.Lock()
	if cr.GetCountsBytes() {
		c.bytesGranted = true // waiters on awaitBytesGranted: see Broadcast below
	}
	for i, task := range tasks {
		g := credit{tuples: n[i]}
		if i < len(b) {
			g.bytes = b[i]
		}
		c.giveBack(task, g)
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

// refund gives back n tuples of bytes bytes taken for task (on
// generation gen) that were never sent: a send that failed fast, while
// the sender waits to reconnect, or a tuple too large to send. Without
// it, a window's worth of failed sends would leave the task without
// credit for ever. Credit taken before a reset is not given back: the
// reset already cleared it.
func (c *credits) refund(task int32, n, bytes int, gen uint64) {
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return
	}
	c.giveBack(task, credit{int64(n), int64(bytes)})
	c.mu.Unlock()
	c.cond.Broadcast()
}

// reset starts afresh for a new stream: what the old one carried is
// either delivered or lost with it.
func (c *credits) reset() {
	c.mu.Lock()
	c.gen++
	clear(c.out)
	c.bytesGranted = false // until the next stream's receiver says so
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
