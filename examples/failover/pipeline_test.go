package failover

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

// outcome is the result of one tuple tree, delivered to the spout task that
// emitted it one round later, as an acker would.
type outcome struct {
	spout int
	gen   int // the spout instance's generation: a restarted task loses its trees
	msgID uint64
	ack   bool
}

// TestPipelineAtLeastOnceThroughFailures drives 2 spout tasks, 3
// pass-through tasks and 3 sink tasks by hand, the way the runtime would,
// while trees are lost (timeouts), acks are lost after the sink wrote
// (duplicates), a sink's file breaks (write errors, replays), and a spout
// task and two sink tasks restart from scratch (a node killed). When every
// spout has ended and nothing is in flight, the checker finds every id.
func TestPipelineAtLeastOnceThroughFailures(t *testing.T) {
	const count, nSpout, nPass, nSink = 20000, 2, 3, 3
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))

	spouts := make([]*SequenceSpout, nSpout)
	spoutFE := make([]*fakeEmitter, nSpout)
	gens := make([]int, nSpout)
	openSpoutTask := func(i int) {
		s, fe, err := tryOpenSpout(map[string]any{KeyCount: count}, i, nSpout, nil)
		if err != nil {
			t.Fatal(err)
		}
		spouts[i], spoutFE[i] = s, fe
		gens[i]++
	}
	passes := make([]*PassThrough, nPass)
	passFE := make([]*fakeEmitter, nPass)
	for i := range passes {
		passes[i], passFE[i] = NewPassThrough(), &fakeEmitter{}
		if err := passes[i].Prepare(t.Context(), newTC("pass", i, nPass, nil), sdk.NewBoltCollector(passFE[i])); err != nil {
			t.Fatal(err)
		}
	}
	sinks := make([]*FileSink, nSink)
	sinkFE := make([]*fakeEmitter, nSink)
	openSinkTask := func(i int) {
		if sinks[i] != nil {
			sinks[i].Cleanup()
		}
		sinks[i], sinkFE[i] = NewFileSink(), &fakeEmitter{}
		if err := sinks[i].Prepare(t.Context(), newTC("sink", i, nSink, map[string]any{KeySinkDir: dir}), sdk.NewBoltCollector(sinkFE[i])); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nSpout {
		openSpoutTask(i)
	}
	for i := range nSink {
		openSinkTask(i)
	}
	defer func() {
		for _, s := range sinks {
			s.Cleanup()
		}
	}()

	var next []outcome
	sinkErrors := 0
	// run runs one tree to its outcome.
	run := func(spout int, e spoutEmit) outcome {
		o := outcome{spout: spout, gen: gens[spout], msgID: e.msgID}
		if rng.IntN(100) < 3 {
			return o // lost on the way to a pass task: times out
		}
		p := rng.IntN(nPass)
		in := &sdk.Tuple{Values: e.values, Source: seqSource, Anchors: []sdk.Anchor{{Root: e.msgID}}}
		passFE[p].bolt, passFE[p].acks = nil, nil
		passes[p].Execute(in)
		if len(passFE[p].bolt) != 1 || len(passFE[p].acks) != 1 || passFE[p].bolt[0].anchors[0] != in {
			t.Fatalf("pass task %d: emits %v, acks %d for one input", p, passFE[p].bolt, len(passFE[p].acks))
		}
		if rng.IntN(100) < 3 {
			return o // lost on the way to a sink task
		}
		k := rng.IntN(nSink)
		fe := sinkFE[k]
		acks, fails := len(fe.acks), len(fe.fails)
		sinks[k].Execute(&sdk.Tuple{Values: passFE[p].bolt[0].values, Source: passSource, Anchors: in.Anchors})
		switch {
		case len(fe.fails) > fails:
			sinkErrors++
			return o
		case len(fe.acks) != acks+1:
			t.Fatalf("sink task %d neither acked nor failed", k)
		}
		// Written and acked; the ack itself may still be lost (timeout
		// after the write: a duplicate).
		o.ack = rng.IntN(100) >= 2
		return o
	}

	for round := 0; ; round++ {
		if round > 100000 {
			t.Fatal("no end after 100000 rounds")
		}
		for _, o := range next {
			if o.gen != gens[o.spout] {
				continue // the spout task restarted: its old trees are gone
			}
			if o.ack {
				spouts[o.spout].Ack(o.msgID)
			} else {
				spouts[o.spout].Fail(o.msgID)
			}
		}
		next = next[:0]
		switch round {
		case 20:
			sinks[2].f.Close() // the disk under sink 2 fails: writes fail
		case 60:
			openSinkTask(2) // sink 2 moved to a healthy node
			openSinkTask(0) // so did sink 0 (its node was killed)
		case 100:
			openSpoutTask(0) // spout 0's node was killed: it starts over
		}
		done := true
		for i, s := range spouts {
			s.NextTuple()
			for _, e := range spoutFE[i].takeSpout() {
				next = append(next, run(i, e))
			}
			if spoutFE[i].ends != 1 || len(s.pending) > 0 {
				done = false
			}
		}
		if done && len(next) == 0 {
			break
		}
	}

	if sinkErrors == 0 || len(sinkFE[2].errs) != 0 {
		t.Errorf("%d sink write errors (want some, from the broken sink), restarted sink 2 reported %v", sinkErrors, sinkFE[2].errs)
	}
	r, err := CheckDir(dir, count)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Duplicates == 0 || len(r.Incomplete) != 0 {
		t.Errorf("check: ok %v, missing %d %v, bad %v, duplicates %d (want some), incomplete %v",
			r.OK(), r.Missing, r.FirstMissing, r.Errors, r.Duplicates, r.Incomplete)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"10.txt", "11.txt", "12.txt"}; len(names) != 3 || filepath.Join(names...) != filepath.Join(want...) {
		t.Errorf("sink files %v, want %v", names, want)
	}
	t.Logf("%d ids, %d lines, %d duplicates, %d sink write errors", count, r.Lines, r.Duplicates, sinkErrors)
}
