package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

// padBolt re-emits its input id, anchored, with a pad field of
// test.pad_bytes bytes, or, without that setting, of a size that depends on
// the id: 5 MiB for ids ending in 5 (over gRPC's default message limit,
// under Gale's), more than transfer.MaxTupleBytes for ids ending in 3, a
// few bytes otherwise; the id test.huge_id, if set, gets a pad just over
// what an external process receives: 65 MiB.
type padBolt struct {
	out  *sdk.BoltCollector
	size int
	huge int64
}

func (b *padBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id", "pad") }
func (b *padBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out, b.size = out, int(mustInt(tc.Config, "test.pad_bytes", 0))
	b.huge = mustInt(tc.Config, "test.huge_id", -1)
	return nil
}
func (b *padBolt) Execute(t *sdk.Tuple) {
	pad := "small"
	switch {
	case t.Int(0) == b.huge:
		pad = strings.Repeat("H", 65<<20) // over the 64 MiB an SDK receives
	case b.size > 0:
		pad = strings.Repeat("p", b.size)
	case t.Int(0)%10 == 5:
		pad = strings.Repeat("p", 5<<20)
	case t.Int(0)%10 == 3:
		pad = strings.Repeat("P", transfer.MaxTupleBytes+1)
	}
	b.out.Emit(t, sdk.Int(t.Int(0)), sdk.String(pad))
	b.out.Ack(t)
}
func (b *padBolt) Cleanup() error { return nil }

func init() { sdk.MustRegisterBolt("test.Pad", func() sdk.Bolt { return &padBolt{} }) }

// TestLargeTuplesCrossNodesOrFailWithAReason: over real Transfer streams,
// tuples of 5 MiB arrive on the other node, and a tuple larger than a
// node sends is failed at once (its spout's Fail, not the message
// timeout) with an error in the run's status that says why; the batches
// it was in still deliver their other tuples. Before frames were bounded,
// a 5 MiB tuple ended the stream and its batch was replayed for ever.
func TestLargeTuplesCrossNodesOrFailWithAReason(t *testing.T) {
	const n = 30
	tp := newTopo(t, map[string]any{
		KeyAckers: 1, KeyMessageTimeout: 60, "test.count": n, "test.max_replays": 0,
	}).
		spout("seq", "test.Seq", 1, "id").                                // task 1
		bolt("pad", "test.Pad", 1, []string{"id", "pad"}, "seq:shuffle"). // task 2
		bolt("sink", "test.Sink", 1, nil, "pad:shuffle")                  // task 3
	w := wireRun(t, tp.s, map[int32]string{1: "a", 2: "a", 3: "b", 4: "a"}) // 4: the acker
	st := stateFor(t)
	// Within 30 s, half the message timeout: the failures did not wait
	// for it.
	waitFor(t, 30*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.acked)+len(st.failed) < n {
			return fmt.Errorf("%d acked, %d failed of %d; errors %v", len(st.acked), len(st.failed), n, w.rts["a"].Errors())
		}
		return nil
	})
	st.mu.Lock()
	for id := uint64(1); id <= n; id++ {
		tooLarge := (id-1)%10 == 3
		if got := st.failed[id] > 0; got != tooLarge {
			t.Errorf("message %d: failed %v, want %v", id, got, tooLarge)
		}
		if got := st.sunk[int64(id-1)] > 0; got == tooLarge {
			t.Errorf("value %d: reached the sink %v", id-1, got)
		}
	}
	st.mu.Unlock()
	var named bool
	for _, e := range w.rts["a"].Errors() {
		if errors.Is(e.Err, transfer.ErrTupleTooLarge) && e.Component == "pad" && strings.Contains(e.Err.Error(), "sending to task 3") {
			named = true
		}
	}
	if !named {
		t.Errorf("no error of component pad names the tuple too large: %v", w.rts["a"].Errors())
	}
}

// padToExternal: ids -> test.Pad (large tuples, as conf says) -> an
// external pass bolt (a real process) -> a sink.
func padToExternal(t *testing.T, conf map[string]any) *topo {
	return newTopo(t, conf).
		spout("seq", "test.Seq", 1, "id").
		bolt("pad", "test.Pad", 1, []string{"id", "pad"}, "seq:shuffle").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", nil, "pad").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
}

// TestLargeTuplesReachAnExternalBolt: 20 inputs of 5 MiB each reach an
// external bolt (a real process speaking Attach through the Go SDK) in
// frames bounded by bytes, not only by count: one frame of them all would
// be over the 64 MiB an SDK receives, and end its stream. Each is over
// gRPC's default 4 MiB too, which the Go SDK once kept.
func TestLargeTuplesReachAnExternalBolt(t *testing.T) {
	const n = 20
	tp := padToExternal(t, map[string]any{"test.count": n, "test.pad_bytes": 5 << 20})
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	checkAllAcked(t, st, n)
	if p := stats(rt, "pass").Counters; p.Executed != n || p.Failed != 0 {
		t.Fatalf("pass counters %+v\n%s", p, errorsText(rt))
	}
}

// TestATupleTooLargeForAnExternalBoltFailsWithAReason: a tuple made in
// this process (so never bounded by a Transfer frame) that is larger than
// an SDK receives is not sent to the external bolt, where it would end
// the process's stream and, replayed, end it again for ever: its tree
// fails at once with an error in the run's status, and the tuples around
// it go through. Sent, it ended the process ("received message larger
// than max (68157505 vs. 67108864)") and failed the inputs in flight
// with it.
func TestATupleTooLargeForAnExternalBoltFailsWithAReason(t *testing.T) {
	const n, huge = 10, 7
	tp := padToExternal(t, map[string]any{"test.count": n, "test.huge_id": huge, "test.max_replays": 0})
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for id := uint64(1); id <= n; id++ {
		tooLarge := id-1 == huge
		if st.failed[id] > 0 != tooLarge || st.acked[id] > 0 == tooLarge {
			t.Errorf("message %d: acked %d, failed %d times; too large: %v", id, st.acked[id], st.failed[id], tooLarge)
		}
	}
	if p := stats(rt, "pass").Counters; p.Executed != n-1 || p.Failed != 1 {
		t.Errorf("pass counters %+v, want %d executed and 1 failed", p, n-1)
	}
	if msg := errorsText(rt); !strings.Contains(msg, "not sent to the process") {
		t.Errorf("the run's errors do not say why a tuple failed:\n%s", msg)
	}
}
