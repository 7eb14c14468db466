package external

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// fakeScript plays a Storm multilang process over pipes.
type fakeScript struct {
	t   *testing.T
	in  *bufio.Reader // what the node wrote to the process's stdin
	out io.Writer     // the process's stdout
}

func (f *fakeScript) read() any {
	f.t.Helper()
	raw, err := readMultilang(f.in)
	if err != nil {
		f.t.Fatalf("script read: %v", err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		f.t.Fatalf("script read %s: %v", raw, err)
	}
	return v
}

func (f *fakeScript) write(s string) {
	f.t.Helper()
	if _, err := io.WriteString(f.out, s+"\nend\n"); err != nil {
		f.t.Fatal(err)
	}
}

func startMultilang(t *testing.T, spout bool) (*fakeScript, Session, chan error) {
	return startMultilangWith(t, spout, 60000, 2*time.Second)
}

// startMultilangWith runs the handshake; the script writes early (log
// commands, say) before its pid.
func startMultilangWith(t *testing.T, spout bool, hbMillis int32, timeout time.Duration, early ...string) (*fakeScript, Session, chan error) {
	t.Helper()
	hub := NewHub()
	w := &galev1.TaskContext{
		Topology: "t", Component: "c", TaskId: 3, HeartbeatMillis: hbMillis,
		ComponentTasks: map[string]*galev1.TaskIds{"src": {Ids: []int32{1}}, "c": {Ids: []int32{3}}},
		Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"word"}}},
		SourceFields:   map[string]*galev1.Fields{"src:default": {Names: []string{"sentence"}}},
		Config:         map[string]*galev1.Value{"k": {Kind: &galev1.Value_StringValue{StringValue: "v"}}},
	}
	slot, err := hub.Register(SlotOptions{Welcome: w})
	if err != nil {
		t.Fatal(err)
	}
	// OS pipes, as with a real process: writes are buffered.
	nodeToProc, procIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	procOut, procToNode, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeMultilang(slot, procIn, procOut, spout, timeout) }()
	f := &fakeScript{t: t, in: bufio.NewReader(nodeToProc), out: procToNode}
	setup := f.read().(map[string]any)
	ctx := setup["context"].(map[string]any)
	if ctx["componentid"] != "c" || ctx["taskid"].(float64) != 3 || setup["conf"].(map[string]any)["k"] != "v" || setup["pidDir"] == "" {
		t.Fatalf("setup message %v", setup)
	}
	for _, m := range early {
		f.write(m)
	}
	f.write(`{"pid": 4242}`)
	var s Session
	select {
	case s = <-slot.Sessions():
	case <-time.After(5 * time.Second):
		t.Fatal("no session offered")
	}
	if s.Hello().GetPid() != 4242 {
		t.Fatalf("hello %v", s.Hello())
	}
	t.Cleanup(func() { procToNode.Close(); nodeToProc.Close() })
	return f, s, done
}

func nextFrame(t *testing.T, s Session) *galev1.AttachRequest {
	t.Helper()
	select {
	case f := <-s.Frames():
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
		return nil
	}
}

func TestMultilangBolt(t *testing.T) {
	f, s, _ := startMultilang(t, false)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Inputs{Inputs: &galev1.TupleBatch{Tuples: []*galev1.Tuple{
		{Id: 7, Stream: "default", SourceTask: 1, Values: []*galev1.Value{{Kind: &galev1.Value_StringValue{StringValue: "a b"}}}},
	}}}})
	tup := f.read().(map[string]any)
	if tup["id"] != "7" || tup["comp"] != "src" || tup["stream"] != "default" || tup["task"].(float64) != 1 || tup["tuple"].([]any)[0] != "a b" {
		t.Fatalf("tuple message %v", tup)
	}
	// An emit waits for its task ids; the executor answers through Routed.
	f.write(`{"command": "emit", "anchors": ["7"], "tuple": ["a"]}`)
	fr := nextFrame(t, s)
	em := fr.GetEmits().GetEmits()[0]
	if em.GetStream() != "default" || em.GetAnchors()[0] != 7 || em.GetValues()[0].GetStringValue() != "a" {
		t.Fatalf("emit frame %v", fr)
	}
	s.(MultilangRouter).Routed([]int32{5, 6})
	if ids := f.read().([]any); len(ids) != 2 || ids[0].(float64) != 5 {
		t.Fatalf("task ids %v", ids)
	}
	// Bad values are rejected with an error, and the script still gets
	// its (empty) task ids.
	f.write(`{"command": "emit", "anchors": ["7"], "tuple": [[1, 2]]}`)
	if e := nextFrame(t, s).GetError().GetMessage(); !strings.Contains(e, "JSON list") {
		t.Fatalf("error %q", e)
	}
	if ids := f.read().([]any); len(ids) != 0 {
		t.Fatalf("task ids %v, want []", ids)
	}
	for _, c := range []struct{ msg, want string }{
		{`{"command": "dance"}`, `unknown command "dance"`},
		{`{"command": "ack", "id": "99"}`, "does not hold"},
		{`{"command": "error", "msg": "boom"}`, "boom"},
	} {
		f.write(c.msg)
		if e := nextFrame(t, s).GetError().GetMessage(); !strings.Contains(e, c.want) {
			t.Fatalf("%s: error %q, want %q", c.msg, e, c.want)
		}
	}
	f.write(`{"command": "log", "msg": "hi", "level": 3}`)
	if l := nextFrame(t, s).GetLog(); l.GetMessage() != "hi" || l.GetLevel() != galev1.LogLevel_LOG_LEVEL_WARN {
		t.Fatalf("log %v", l)
	}
	// Heartbeats are tuples on __heartbeat answered by sync.
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Heartbeat{Heartbeat: &galev1.Heartbeat{}}})
	if hb := f.read().(map[string]any); hb["stream"] != "__heartbeat" || hb["task"].(float64) != -1 {
		t.Fatalf("heartbeat %v", hb)
	}
	f.write(`{"command": "sync"}`)
	// End of input: finished once every input is acked.
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_EndOfInput{EndOfInput: &galev1.EndOfInput{}}})
	f.write(`{"command": "ack", "id": "7"}`)
	if a := nextFrame(t, s).GetAcks(); len(a.GetAcked()) != 1 || a.GetAcked()[0] != 7 {
		t.Fatalf("acks %v", a)
	}
	if nextFrame(t, s).GetFinished() == nil {
		t.Fatal("no finished after the last ack")
	}
}

// readCommand reads the next message to a spout and checks its command.
func (f *fakeScript) readCommand(t *testing.T, want string) map[string]any {
	t.Helper()
	m, ok := f.read().(map[string]any)
	if !ok || m["command"] != want {
		t.Fatalf("message %v, want the command %q", m, want)
	}
	return m
}

func TestMultilangSpout(t *testing.T) {
	f, s, _ := startMultilang(t, true)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Next{Next: &galev1.NextRequest{Max: 10}}})
	// No activate at start: storm.js's default activate never answers.
	f.readCommand(t, "next")
	f.write(`{"command": "emit", "id": "msg-a", "tuple": ["x"]}`)
	em := nextFrame(t, s).GetEmits().GetEmits()[0]
	if em.GetMessageId() == 0 {
		t.Fatalf("reliable emit without a message id: %v", em)
	}
	s.(MultilangRouter).Routed([]int32{4})
	f.read() // task ids
	f.write(`{"command": "sync"}`)
	if nextFrame(t, s).GetNextDone() == nil {
		t.Fatal("sync after next is not next_done")
	}
	// The tree's outcome goes back under the script's own id.
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_SpoutAcks{SpoutAcks: &galev1.SpoutAcks{Failed: []uint64{em.GetMessageId()}}}})
	if m := f.read().(map[string]any); m["command"] != "fail" || m["id"] != "msg-a" {
		t.Fatalf("fail message %v", m)
	}
	f.write(`{"command": "sync"}`)
}

func TestMultilangUnansweredCommandTimesOut(t *testing.T) {
	f, s, _ := startMultilang(t, true)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Next{Next: &galev1.NextRequest{Max: 1}}})
	f.readCommand(t, "next")
	// The session ends (the executor then has the process killed).
	select {
	case <-s.Done():
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "did not answer next") {
			t.Fatalf("session ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an unanswered next did not end the session")
	}
}

// A bolt gets heartbeat tuples by itself; one that stops answering them
// (hung in its process loop) is dropped after the timeout.
func TestMultilangHungBoltIsDropped(t *testing.T) {
	f, s, _ := startMultilangWith(t, false, 50, 400*time.Millisecond)
	hb := f.read().(map[string]any)
	if hb["stream"] != "__heartbeat" {
		t.Fatalf("first message after the handshake %v, want a heartbeat tuple", hb)
	}
	f.write(`{"command": "sync"}`) // alive once, then hangs
	select {
	case <-s.Done():
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "did not answer heartbeat") {
			t.Fatalf("session ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a hung bolt was not dropped")
	}
}

// Bolts anchor their emits to a tick tuple and ack it as any input
// (storm.py's BasicBolt, storm.js, pystorm): Storm emits unanchored and
// takes the ack as nothing. Gale dropped the emit and reported each ack.
func TestMultilangTickTuplesCanBeAnchoredAndAcked(t *testing.T) {
	f, s, _ := startMultilang(t, false)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Inputs{Inputs: &galev1.TupleBatch{Tuples: []*galev1.Tuple{{Stream: "__tick"}}}}})
	if tick := f.read().(map[string]any); tick["stream"] != "__tick" || tick["id"] != "0" {
		t.Fatalf("tick %v", tick)
	}
	f.write(`{"command": "emit", "anchors": ["0"], "tuple": ["flushed"], "need_task_ids": false}`)
	fr := nextFrame(t, s)
	if em := fr.GetEmits().GetEmits(); len(em) != 1 || len(em[0].GetAnchors()) != 0 || em[0].GetValues()[0].GetStringValue() != "flushed" {
		t.Fatalf("frame %v, want the emit, unanchored", fr)
	}
	f.write(`{"command": "ack", "id": "0"}`)
	f.write(`{"command": "log", "msg": "after the ack"}`)
	if fr := nextFrame(t, s); fr.GetLog().GetMessage() != "after the ack" {
		t.Fatalf("frame %v after acking a tick, want nothing before the log", fr)
	}
}

// A spout gets one command at a time, the next after the last one's sync,
// as from Storm's ShellSpout: an ack written while next waited was read
// by scripts as part of next (storm.js ran nextTuple twice at once).
func TestMultilangSpoutCommandsWaitForTheirSync(t *testing.T) {
	f, s, _ := startMultilang(t, true)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Next{Next: &galev1.NextRequest{Max: 10}}})
	f.readCommand(t, "next")
	f.write(`{"command": "emit", "id": "a", "tuple": ["x"], "need_task_ids": false}`)
	f.write(`{"command": "emit", "id": "a", "tuple": ["y"], "need_task_ids": false}`) // the same id twice: two trees
	first := nextFrame(t, s).GetEmits().GetEmits()[0].GetMessageId()
	second := nextFrame(t, s).GetEmits().GetEmits()[0].GetMessageId()
	if first == 0 || second == 0 || first == second {
		t.Fatalf("message ids %d and %d: want one each", first, second)
	}
	// Results while next waits for its sync are held back.
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_SpoutAcks{SpoutAcks: &galev1.SpoutAcks{Acked: []uint64{first}, Failed: []uint64{second}}}})
	written := make(chan any, 1)
	go func() { written <- f.read() }()
	select {
	case m := <-written:
		t.Fatalf("%v written while next waited for its sync", m)
	case <-time.After(200 * time.Millisecond):
	}
	f.write(`{"command": "sync"}`)
	if nextFrame(t, s).GetNextDone() == nil {
		t.Fatal("no next_done")
	}
	if m := (<-written).(map[string]any); m["command"] != "ack" || m["id"] != "a" {
		t.Fatalf("after next's sync %v, want ack a", m)
	}
	f.write(`{"command": "sync"}`)
	// Each tree of the id gets its result.
	if m := f.readCommand(t, "fail"); m["id"] != "a" {
		t.Fatalf("fail %v, want a", m)
	}
	f.write(`{"command": "sync"}`)
}

// A spout hears activate and deactivate on changes only: not at start
// (storm.js's default activate never answers, and a spout waited for ever
// behind it), nor the deactivate the node sends a process that starts
// inactive (gale submit --inactive), as Storm tells such a spout nothing
// until it is activated.
func TestMultilangSpoutActivation(t *testing.T) {
	f, s, _ := startMultilang(t, true)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Deactivate{Deactivate: &galev1.Deactivate{}}}) // started inactive
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Activate{Activate: &galev1.Activate{}}})
	f.readCommand(t, "activate")
	f.write(`{"command": "sync"}`)
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Next{Next: &galev1.NextRequest{Max: 1}}})
	f.readCommand(t, "next")
	f.write(`{"command": "sync"}`)
	if nextFrame(t, s).GetNextDone() == nil {
		t.Fatal("no next_done")
	}
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Deactivate{Deactivate: &galev1.Deactivate{}}})
	f.readCommand(t, "deactivate")
	f.write(`{"command": "sync"}`)
}

// A line printed outside the protocol merges with the next message, which
// is lost, and the script may wait for ever for its answer: the session
// ends at once (the process is restarted and what it held replays) rather
// than after the timeout.
func TestMultilangJunkOnStdoutEndsTheSession(t *testing.T) {
	f, s, _ := startMultilang(t, false)
	f.write(`DEBUG: about to emit` + "\n" + `{"command": "emit", "tuple": ["a"]}`)
	select {
	case <-s.Done():
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "not a JSON object (a line printed to stdout outside the protocol?") {
			t.Fatalf("session ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("junk on stdout did not end the session")
	}
}

// storm.js calls initialize, which may log, before it sends its pid: the
// logs are kept, not taken for a broken handshake.
func TestMultilangLogsBeforeThePidAreKept(t *testing.T) {
	_, s, _ := startMultilangWith(t, false, 60000, 2*time.Second, `{"command": "log", "msg": "initializing", "level": 2}`)
	if l := nextFrame(t, s).GetLog(); l.GetMessage() != "initializing" {
		t.Fatalf("first frame's log %v, want the log written before the pid", l)
	}
}

// A delivery from the executor (an end of input with no input held
// answers finished) after the process's output ended does not send on
// the closed Frames: it crashed the node. Err is set once Frames closes.
func TestMultilangDeliveryAfterTheEndIsDropped(t *testing.T) {
	f, s, done := startMultilang(t, false)
	f.out.(io.Closer).Close() // the process's stdout ends
	<-done
	for range s.Frames() {
	}
	if s.Err() == nil {
		t.Fatal("Frames closed before the session's error was set")
	}
	ms := s.(*multilangSession)
	ms.mu.Lock()
	ms.finish = true
	ms.mu.Unlock()
	ms.maybeFinished() // would panic: send on closed channel
}
