package attach

import (
	"sync/atomic"
	"time"
)

// busyClock tells the writer how long the component's current call has
// run, for the heartbeats' busy_millis: heartbeats go from the writer's
// goroutine, so a process whose Execute never returns still looks alive,
// and the node learns of it only from them (ATTACH.md, "Heartbeats"). The
// hooks' goroutine counts the calls it begins and names the running hook;
// the writer notes when the count last moved.
type busyClock struct {
	calls atomic.Uint64
	hook  atomic.Pointer[string] // the running call's hook; nil between calls

	// The writer's side.
	seen  uint64
	since time.Time
}

// The hooks' names, as busy_in says them.
var (
	hookExecute    = "execute"
	hookNextTuple  = "next_tuple"
	hookAck        = "ack"
	hookFail       = "fail"
	hookActivate   = "activate"
	hookDeactivate = "deactivate"
	hookFinish     = "finish"
)

// enter is called by the hooks' goroutine before a call of hook, leave
// after it.
func (b *busyClock) enter(hook *string) {
	b.calls.Add(1)
	b.hook.Store(hook)
}

func (b *busyClock) leave() { b.hook.Store(nil) }

// sample is called by the writer, often: it returns how long the running
// call has run (from when the writer first saw it) and its hook, or 0.
func (b *busyClock) sample(now time.Time) (time.Duration, string) {
	h := b.hook.Load()
	c := b.calls.Load()
	if h == nil || c != b.seen {
		b.seen, b.since = c, now
		return 0, ""
	}
	return now.Sub(b.since), *h
}
