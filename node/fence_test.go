package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gale-stream/gale/coordinator/etcdtest"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
)

func TestStallFence(t *testing.T) {
	const limit = int64(time.Second)
	var none *stallFence
	if none.check(router.Nanotime()) != nil || none.held() {
		t.Fatal("a nil fence (local mode) holds tasks")
	}
	f := newStallFence(time.Duration(limit))
	start := f.lastBeat.Load()
	if c := f.check(start + limit/2); c != nil {
		t.Fatal("the fence holds tasks half a limit after a beat")
	}
	if gap := f.beat(start + limit/2); gap != 0 || f.held() {
		t.Fatalf("a beat on time reported a stall of %v (held %v)", gap, f.held())
	}
	// The watchdog was late: the fence engages, once.
	if gap := f.beat(start + limit/2 + 3*limit); gap != time.Duration(3*limit) || !f.held() {
		t.Fatalf("a beat 3 limits late: stall %v, held %v", gap, f.held())
	}
	lifted := f.check(start + 4*limit)
	if lifted == nil || f.stallCount() != 1 || len(f.engage) != 1 {
		t.Fatalf("held fence: check %v, stalls %d, engage signals %d", lifted, f.stallCount(), len(f.engage))
	}
	<-f.engage
	// A confirmation made before another stall does not lift the fence.
	seen := f.stallCount()
	if !f.lift(seen) || f.held() {
		t.Fatal("lift with the current stall count left the fence held")
	}
	select {
	case <-lifted:
	default:
		t.Fatal("lifting did not release the waiting tasks")
	}
	// An executor sees the watchdog's last beat too old before the
	// watchdog runs: it engages the fence itself.
	last := f.lastBeat.Load()
	if f.check(last+2*limit) == nil || !f.held() || f.stallCount() != 2 {
		t.Fatalf("an executor after a stall went on (held %v, stalls %d)", f.held(), f.stallCount())
	}
	if f.lift(seen) || !f.held() {
		t.Fatal("a confirmation from before the second stall lifted the fence")
	}
	if !f.lift(f.stallCount()) || f.held() {
		t.Fatal("the second confirmation did not lift the fence")
	}
}

// A node that stalled (its goroutines frozen: SIGSTOP, a paused VM) may
// have had its tasks moved to other nodes meanwhile: its tasks wait until
// etcd confirms them, and while etcd does not answer they wait on. (A node
// that only lost etcd goes on: TestNodeRecoversFromEtcdRestart.)
func TestAStalledNodesTasksWaitForEtcd(t *testing.T) {
	srv := etcdtest.StartServer(t)
	p := startPeer(t, "solo", srv.Endpoints()...)
	ctx := context.Background()
	client, _ := dialPeer(t, p)
	endless := newTopo(t, map[string]any{"test.count": 1 << 40, "test.per_call": 4}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	endless.s.Name = "endless"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: endless.s}); err != nil {
		t.Fatal(err)
	}
	sunk := func() int {
		st := stateFor(t)
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.sunk)
	}
	waitFor(t, 10*time.Second, func() error {
		if sunk() == 0 {
			return errors.New("nothing flowing yet")
		}
		return nil
	})
	srv.Stop()
	// The node stalls: its watchdog's last beat is far behind, as after
	// a SIGSTOP (the test cannot freeze the test binary's goroutines).
	p.fence.lastBeat.Store(router.Nanotime() - 10*p.fence.limit)
	var held int
	waitFor(t, 10*time.Second, func() error {
		if !p.fence.held() {
			return errors.New("the fence is not held")
		}
		n := sunk()
		time.Sleep(200 * time.Millisecond)
		if m := sunk(); m != n {
			return fmt.Errorf("still sinking: %d -> %d", n, m)
		}
		held = n
		return nil
	})
	time.Sleep(time.Second)
	if n := sunk(); n != held || !p.fence.held() {
		t.Fatalf("the stalled node's tasks went on without etcd: sunk %d -> %d (fence held: %v)", held, n, p.fence.held())
	}
	srv.Restart(t)
	waitFor(t, 20*time.Second, func() error {
		if p.fence.held() {
			return errors.New("the fence still holds")
		}
		if n := sunk(); n <= held {
			return fmt.Errorf("sunk %d, not more than %d", n, held)
		}
		return nil
	})
	if s := p.fence.stallCount(); s < 1 {
		t.Errorf("stalls %d, want at least 1", s)
	}
}
