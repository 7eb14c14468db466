package alarm

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
	_ "unsafe" // for go:linkname
)

// now is the runtime's monotonic clock, the one router.Nanotime reads and
// a CLOCK_MONOTONIC timerfd counts in.
//
//go:linkname now runtime.nanotime
func now() int64

// Clock delivers the alarms of one runtime. Its zero value is not usable:
// call New, and Close when done.
type Clock struct {
	mu     sync.Mutex
	alarms alarmHeap
	armed  int64 // deadline the timer is armed for; 0: not armed
	closed bool
	sys    sysTimer
	done   chan struct{}
}

// New starts a Clock.
func New() (*Clock, error) {
	c := &Clock{done: make(chan struct{})}
	sys, err := newSysTimer()
	if err != nil {
		return nil, fmt.Errorf("alarm: start the clock: %w", err)
	}
	c.sys = sys
	go c.run()
	return c, nil
}

// Close stops the clock and waits for its goroutine. Alarms set after
// Close never go off; it is safe to call more than once.
func (c *Clock) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	for _, a := range c.alarms {
		a.index = -1
	}
	c.alarms = nil
	c.mu.Unlock()
	c.sys.close()
	<-c.done
}

// run waits for the timer and sets off the alarms that are due, until the
// clock is closed.
func (c *Clock) run() {
	defer close(c.done)
	for {
		if err := c.sys.wait(); err != nil {
			// A timerfd read through the poller fails only once the
			// descriptor is closed (EAGAIN and EINTR are the poller's).
			return
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		c.armed = 0
		t := now()
		for len(c.alarms) > 0 && c.alarms[0].when <= t {
			c.alarms[0].ring()
			heap.Pop(&c.alarms)
		}
		c.arm()
		c.mu.Unlock()
	}
}

// arm arms the timer for the earliest alarm, unless it already goes off
// by then; called with c.mu held.
func (c *Clock) arm() {
	if len(c.alarms) == 0 || c.closed {
		return
	}
	when := c.alarms[0].when
	if c.armed != 0 && c.armed <= when {
		return
	}
	if err := c.sys.set(when); err != nil {
		// The timer cannot fail for a valid deadline; should it, ring
		// every alarm now rather than leave a task asleep.
		for len(c.alarms) > 0 {
			c.alarms[0].ring()
			heap.Pop(&c.alarms)
		}
		return
	}
	c.armed = when
}

// Alarm is one task's wake-up: C receives the time once the deadline
// given to Set has passed, as a time.Timer's C does, so that a task waits
// on either the same way. Set and Stop are for one goroutine at a time.
type Alarm struct {
	// C receives when the alarm goes off. After Stop or Set returns, it
	// holds no value from an earlier setting.
	C     <-chan time.Time
	c     chan time.Time
	clock *Clock
	when  int64
	index int // in clock.alarms; -1 when not set
}

// NewAlarm returns an alarm of c, not set.
func (c *Clock) NewAlarm() *Alarm {
	ch := make(chan time.Time, 1)
	return &Alarm{C: ch, c: ch, clock: c, index: -1}
}

// Set makes the alarm go off at deadline (the runtime's monotonic clock,
// router.Nanotime, in nanoseconds), replacing any earlier setting. A
// deadline that has passed goes off at once.
func (a *Alarm) Set(deadline int64) {
	c := a.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	a.drain()
	if c.closed {
		return
	}
	a.when = deadline
	if deadline <= now() {
		if a.index >= 0 {
			heap.Remove(&c.alarms, a.index)
		}
		a.ring()
		return
	}
	if a.index >= 0 {
		heap.Fix(&c.alarms, a.index)
	} else {
		heap.Push(&c.alarms, a)
	}
	c.arm()
}

// Stop disarms the alarm and empties C.
func (a *Alarm) Stop() {
	c := a.clock
	c.mu.Lock()
	if a.index >= 0 {
		heap.Remove(&c.alarms, a.index)
	}
	a.drain()
	c.mu.Unlock()
}

// ring sends the time unless a value is waiting; called with the clock's
// lock held, so Stop and Set can empty C for good.
func (a *Alarm) ring() {
	select {
	case a.c <- time.Now():
	default:
	}
}

func (a *Alarm) drain() {
	select {
	case <-a.c:
	default:
	}
}

// alarmHeap orders alarms by deadline (container/heap).
type alarmHeap []*Alarm

func (h alarmHeap) Len() int           { return len(h) }
func (h alarmHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h alarmHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *alarmHeap) Push(x any) {
	a := x.(*Alarm)
	a.index = len(*h)
	*h = append(*h, a)
}
func (h *alarmHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	a.index = -1
	*h = old[:len(old)-1]
	return a
}
