package node

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/node/transfer"
	"github.com/gale-stream/gale/router"
)

// loopRemote joins two runtimes of one run in this process: what one
// sends the other gets. Acker operations to down are refused while
// refuse is set, as by a node that is down or that the sender's routes
// still name after the task moved.
type loopRemote struct {
	other  *atomic.Pointer[Runtime]
	down   int32
	refuse *atomic.Bool
	sent   *atomic.Int64 // operations to down that went
	// refused counts the sends to down refused.
	refused *atomic.Int64
}

func (r loopRemote) SendTuples(dest int32, b *router.Batch) error {
	return errors.New("loopRemote carries acker operations only")
}
func (r loopRemote) SendAcks(dest int32, ops []router.AckOp) error {
	if dest == r.down {
		if r.refuse.Load() {
			r.refused.Add(1)
			return errors.New("remote node unavailable: connection refused")
		}
		r.sent.Add(int64(len(ops)))
	}
	return r.other.Load().Acks(ops, transfer.AckMeta{})
}
func (r loopRemote) ForwardAcks(dest int32, ops []router.AckOp) error {
	return r.SendAcks(dest, ops)
}
func (r loopRemote) SendEndOfInput(int32, []int32) error { return nil }

// Acker operations that could not be sent to the acker's node are sent
// again once they can be, and their trees complete: they were dropped,
// and the trees waited for the message timeout (an hour here, so nothing
// but the resend can complete them). The acker (task 4) runs on "b", the
// rest on "a", and a's sends to it fail for the first 300 ms.
func TestAckerOperationsThatCouldNotBeSentGoAgain(t *testing.T) {
	const n = 2000
	tp := newTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 3600, KeyAckers: 1}).
		spout("seq", "test.Seq", 1, "id").                           // task 1
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")            // task 3; the acker is task 4
	var rtA, rtB atomic.Pointer[Runtime]
	var refuse atomic.Bool
	var sent, refused atomic.Int64
	refuse.Store(true)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(tp.s, Options{ID: "loop", Logger: log, Local: func(id int32) bool { return id != 4 },
		Remote: loopRemote{other: &rtB, down: 4, refuse: &refuse, sent: &sent, refused: &refused}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(tp.s, Options{ID: "loop", Logger: log, Local: func(id int32) bool { return id == 4 },
		Remote: loopRemote{other: &rtA, down: -1, refuse: &refuse, sent: &sent, refused: &refused}})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.ackers; len(got) != 1 || got[0] != 4 {
		t.Fatalf("ackers %v, want [4]", got)
	}
	rtA.Store(a)
	rtB.Store(b)
	runUntilTestEnds(t, b)
	runUntilTestEnds(t, a)
	st := stateFor(t)
	waitFor(t, 10*time.Second, func() error {
		if refused.Load() == 0 {
			return errors.New("no send refused yet")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // the acker's node stays down a while
	refuse.Store(false)
	waitFor(t, 30*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.acked) != n {
			return errors.New("not every message completed yet")
		}
		return nil
	})
	if a.unsentLen() != 0 {
		t.Fatalf("%d operations still held after every tree completed", a.unsentLen())
	}
}

// Held operations older than the message timeout are dropped (their trees
// timed out by then), and at most maxUnsentAcks are held.
func TestHeldOperationsExpireAndAreBounded(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyMessageTimeout: 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	var other atomic.Pointer[Runtime]
	var refuse atomic.Bool
	var sent, refused atomic.Int64
	refuse.Store(true)
	rt, err := New(tp.s, Options{ID: "held", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Local: func(id int32) bool { return id == 1 },
		Remote: loopRemote{other: &other, down: 3, refuse: &refuse, sent: &sent, refused: &refused}})
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]router.AckOp, maxUnsentAcks+10)
	for i := range ops {
		ops[i] = router.AckOp{Kind: router.AckAck, Root: uint64(i + 1)}
	}
	rt.holdUnsent(3, ops)
	if got := rt.unsentLen(); got != maxUnsentAcks {
		t.Fatalf("%d held, want the bound %d", got, maxUnsentAcks)
	}
	rt.resendUnsent(router.Nanotime()) // refused: held again
	if got := rt.unsentLen(); got != maxUnsentAcks {
		t.Fatalf("%d held after a refused resend, want %d", got, maxUnsentAcks)
	}
	rt.resendUnsent(router.Nanotime() + int64(2*time.Second)) // past the timeout
	if got := rt.unsentLen(); got != 0 || sent.Load() != 0 {
		t.Fatalf("%d held and %d sent after the message timeout, want none", got, sent.Load())
	}
}
