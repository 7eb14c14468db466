package attach_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// confBolt is the suite's conf-bolt (sdk/conformance/README.md), written
// with the public Go SDK only.
type confBolt struct {
	tc    *sdk.TaskContext
	out   *sdk.BoltCollector
	held  []*sdk.Tuple
	ticks int64
}

func (b *confBolt) DeclareOutputFields(d *sdk.OutputDeclarer) {
	d.Declare("word")
	d.DeclareStream("other", "word")
	d.DeclareDirectStream("direct", "word")
	d.DeclareStream("ticks", "n")
}

func (b *confBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.tc, b.out = tc, out
	if msg := tc.Config.String("fail.prepare", ""); msg != "" {
		return errors.New(msg)
	}
	return nil
}

func (b *confBolt) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		b.ticks++
		b.out.EmitTo("ticks", nil, sdk.Int(b.ticks))
		return
	}
	cmd, _ := t.Field("cmd")
	argV, _ := t.Field("arg")
	nV, _ := t.Field("n")
	arg := argV.Str()
	switch cmd.Str() {
	case "ack":
		b.out.Ack(t)
	case "fail":
		b.out.Fail(t)
	case "emit":
		b.out.Emit(t, sdk.String(arg))
		b.out.Ack(t)
	case "emit-unanchored":
		b.out.Emit(nil, sdk.String(arg))
		b.out.Ack(t)
	case "emit-other":
		b.out.EmitTo("other", t, sdk.String(arg))
		b.out.Ack(t)
	case "emit-direct":
		b.out.EmitDirect(int32(nV.Int()), "direct", t, sdk.String(arg))
		b.out.Ack(t)
	case "split":
		for _, w := range strings.Fields(arg) {
			b.out.Emit(t, sdk.String(w))
		}
		b.out.Ack(t)
	case "busy":
		// Work without yielding for n ms (a slow, synchronous execute).
		fmt.Fprintln(os.Stderr, "conformance: busy")
		for until := time.Now().Add(time.Duration(nV.Int()) * time.Millisecond); time.Now().Before(until); {
		}
		b.out.Ack(t)
	case "wait":
		// Wait n ms without working (a call that does not return for a
		// while: a sleep).
		time.Sleep(time.Duration(nV.Int()) * time.Millisecond)
		b.out.Ack(t)
	case "hold":
		b.held = append(b.held, t.Clone())
	case "reset-held":
		for _, h := range b.held {
			b.out.ResetTimeout(h)
		}
		b.out.Ack(t)
	case "emit-held":
		anchors := append(append([]*sdk.Tuple(nil), b.held...), t)
		b.out.EmitAnchored(sdk.DefaultStream, anchors, sdk.String(arg))
		for _, h := range b.held {
			b.out.Ack(h)
		}
		b.held = nil
		b.out.Ack(t)
	case "config":
		v := b.tc.Config[arg]
		s := v.Str()
		if v.Kind() == sdk.KindInt {
			s = fmt.Sprint(v.Int())
		}
		b.out.Emit(t, sdk.String(s))
		b.out.Ack(t)
	case "context":
		b.out.Emit(t, sdk.String(fmt.Sprintf("%s/%d/%d/%s", b.tc.Component, b.tc.TaskID, b.tc.TaskIndex, t.Component())))
		b.out.Ack(t)
	case "log":
		b.tc.Log.Info(arg)
		b.out.Ack(t)
	case "error":
		b.out.ReportError(errors.New(arg))
		b.out.Ack(t)
	case "raise":
		panic(errors.New(arg))
	case "bad-stream":
		b.out.EmitTo("nope", t, sdk.String(arg))
	case "bad-arity":
		b.out.Emit(t, sdk.String(arg), sdk.String(arg))
	case "too-large":
		b.out.Emit(t, sdk.String(strings.Repeat("x", int(nV.Int()))))
	}
}

func (b *confBolt) Finish() error {
	b.out.Emit(nil, sdk.String("bye"))
	for _, h := range b.held {
		b.out.Ack(h)
	}
	b.held = nil
	return nil
}

func (b *confBolt) Cleanup() error {
	fmt.Fprintln(os.Stderr, "conformance: cleanup")
	return nil
}

// confSpout is the suite's conf-spout.
type confSpout struct {
	tc     *sdk.TaskContext
	out    *sdk.SpoutCollector
	count  int64
	nextID int64
	replay []uint64
	busy   time.Duration // each NextTuple works this long without yielding
}

func (s *confSpout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }

func (s *confSpout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.tc, s.out = tc, out
	var err error
	if s.count, err = tc.Config.Int("conformance.count", 5); err != nil {
		return err
	}
	busy, err := tc.Config.Int("conformance.busy_ms", 0)
	s.busy = time.Duration(busy) * time.Millisecond
	return err
}

func (s *confSpout) NextTuple() {
	if s.busy > 0 {
		fmt.Fprintln(os.Stderr, "conformance: busy")
	}
	for until := time.Now().Add(s.busy); time.Now().Before(until); {
		// a slow, synchronous NextTuple
	}
	// Message id i is i + 1 on the wire, as the suite wants: the Go SDK
	// adds the one (wireIDOffset), so that id 0 is reliable too.
	if len(s.replay) > 0 {
		msg := s.replay[0]
		s.replay = s.replay[1:]
		s.out.Emit(msg, sdk.Int(int64(msg)))
		return
	}
	if s.nextID < s.count {
		s.out.Emit(uint64(s.nextID), sdk.Int(s.nextID))
		s.nextID++
		if s.nextID == s.count {
			s.out.End()
		}
	}
}

func (s *confSpout) Ack(uint64)      {}
func (s *confSpout) Fail(msg uint64) { s.replay = append(s.replay, msg) }
func (s *confSpout) Close() error {
	fmt.Fprintln(os.Stderr, "conformance: close")
	return nil
}
func (s *confSpout) Activate()   { s.tc.Log.Info("activated") }
func (s *confSpout) Deactivate() { s.tc.Log.Info("deactivated") }
