package attach_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/attach"
)

// The conformance suite (sdk/conformance/README.md): this test plays the
// node; the components run in a subprocess (this test binary, re-executed).

const roleEnv = "GALE_CONFORMANCE_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "bolt":
		attach.Main(&confBolt{})
	case "spout":
		attach.Main(&confSpout{})
	}
	os.Exit(m.Run())
}

type confCase struct {
	Name      string            `json:"name"`
	Component string            `json:"component"`
	Welcome   json.RawMessage   `json:"welcome"`
	Steps     []json.RawMessage `json:"steps"`
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob("../conformance/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance cases: %v", err)
	}
	base := map[string]json.RawMessage{}
	readJSON(t, "../conformance/welcome.json", &base)
	for _, f := range files {
		var c confCase
		readJSON(t, f, &c)
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			runCase(t, c, base[c.Component])
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// fakeNode is an AttachService that hands each stream to the test.
type fakeNode struct {
	galev1.UnimplementedAttachServiceServer
	streams chan galev1.AttachService_AttachServer
	end     chan error
}

func (n *fakeNode) Attach(s galev1.AttachService_AttachServer) error {
	n.streams <- s
	select {
	case err := <-n.end:
		return err
	case <-s.Context().Done():
		return nil
	}
}

type harness struct {
	t       *testing.T
	stream  galev1.AttachService_AttachServer
	node    *fakeNode
	hb      time.Duration
	events  chan event
	pending []event
	exited  chan error
	proc    *os.Process
	kind    string // bolt or spout
	// stderrPath is the file of the process's stderr.
	stderrPath string
}

type event struct {
	kind string // emit, ack, fail, log, error, next_done, finished, heartbeat, end
	emit *galev1.Emit
	id   uint64
	log  *galev1.LogRecord
	eoi  bool
	err  error // end: the stream's end
	// busyMs and busyIn are a heartbeat's busy_millis and busy_in.
	busyMs uint32
	busyIn string
}

// startFakeNode serves a fakeNode on 127.0.0.1:0 until the test ends.
func startFakeNode(t *testing.T) (*fakeNode, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node := &fakeNode{streams: make(chan galev1.AttachService_AttachServer, 1), end: make(chan error, 1)}
	srv := grpc.NewServer()
	galev1.RegisterAttachServiceServer(srv, node)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return node, lis.Addr().String()
}

func runCase(t *testing.T, c confCase, baseWelcome json.RawMessage) {
	node, addr := startFakeNode(t)
	welcome := mergeWelcome(t, baseWelcome, c.Welcome)
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	// A file, which the harness may read while the process writes it.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(),
		roleEnv+"="+c.Component,
		"GALE_ATTACH_ADDR="+addr,
		"GALE_TOPOLOGY=conformance",
		"GALE_COMPONENT="+welcome.GetComponent(),
		"GALE_TASK_ID="+strconv.Itoa(int(welcome.GetTaskId())),
		"GALE_TOKEN=conformance-token",
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, node: node, hb: time.Duration(welcome.GetHeartbeatMillis()) * time.Millisecond, events: make(chan event, 1024), exited: make(chan error, 1), proc: cmd.Process, kind: c.Component, stderrPath: stderr.Name()}
	go func() { h.exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("component stderr:\n%s", h.stderr())
		}
	}()
	select {
	case h.stream = <-node.streams:
	case <-time.After(10 * time.Second):
		t.Fatalf("the component did not attach")
	}
	first, err := h.stream.Recv()
	if err != nil {
		t.Fatalf("reading hello: %v", err)
	}
	hello := first.GetHello()
	switch {
	case hello == nil:
		t.Fatalf("first frame is not hello: %v", first)
	case hello.GetTopology() != "conformance" || hello.GetComponent() != welcome.GetComponent() || hello.GetTaskId() != welcome.GetTaskId():
		t.Fatalf("hello names %s/%s task %d, want conformance/%s task %d", hello.GetTopology(), hello.GetComponent(), hello.GetTaskId(), welcome.GetComponent(), welcome.GetTaskId())
	case hello.GetToken() != "conformance-token":
		t.Fatalf("hello token %q, want the one from GALE_TOKEN", hello.GetToken())
	case hello.GetSdk() == "" || hello.GetPid() <= 0:
		t.Fatalf("hello without sdk or pid: %v", hello)
	}
	if err := h.stream.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Welcome{Welcome: welcome}}); err != nil {
		t.Fatal(err)
	}
	go h.read()
	ended := false
	for i, raw := range c.Steps {
		var step map[string]json.RawMessage
		if err := json.Unmarshal(raw, &step); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		for kind, arg := range step {
			ended = h.step(i, kind, arg) || ended
		}
	}
	if !ended {
		node.end <- nil
		h.expectEnd(false)
	}
}

func mergeWelcome(t *testing.T, base, over json.RawMessage) *galev1.TaskContext {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	if len(over) > 0 {
		o := map[string]json.RawMessage{}
		if err := json.Unmarshal(over, &o); err != nil {
			t.Fatal(err)
		}
		for k, v := range o {
			m[k] = v
		}
	}
	data, _ := json.Marshal(m)
	w := &galev1.TaskContext{}
	if err := protojson.Unmarshal(data, w); err != nil {
		t.Fatalf("welcome: %v", err)
	}
	return w
}

// read flattens the process's frames into events.
func (h *harness) read() {
	for {
		f, err := h.stream.Recv()
		if err != nil {
			h.events <- event{kind: "end", err: err}
			return
		}
		switch fr := f.GetFrame().(type) {
		case *galev1.AttachRequest_Emits:
			for _, em := range fr.Emits.GetEmits() {
				h.events <- event{kind: "emit", emit: em}
			}
		case *galev1.AttachRequest_Acks:
			// As a node reads the frame: resets first.
			for _, id := range fr.Acks.GetResetTimeout() {
				h.events <- event{kind: "reset_timeout", id: id}
			}
			for _, id := range fr.Acks.GetAcked() {
				h.events <- event{kind: "ack", id: id}
			}
			for _, id := range fr.Acks.GetFailed() {
				h.events <- event{kind: "fail", id: id}
			}
		case *galev1.AttachRequest_Log:
			h.events <- event{kind: "log", log: fr.Log}
		case *galev1.AttachRequest_Error:
			h.events <- event{kind: "error", log: fr.Error}
		case *galev1.AttachRequest_NextDone:
			h.events <- event{kind: "next_done", eoi: fr.NextDone.GetEndOfInput()}
		case *galev1.AttachRequest_Finished:
			h.events <- event{kind: "finished"}
		case *galev1.AttachRequest_Heartbeat:
			h.events <- event{kind: "heartbeat", busyMs: fr.Heartbeat.GetBusyMillis(), busyIn: fr.Heartbeat.GetBusyIn()}
		default:
			h.events <- event{kind: "unexpected " + fmt.Sprintf("%T", fr)}
		}
	}
}

// next returns the next event other than a heartbeat.
func (h *harness) next(timeout time.Duration) (event, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case e := <-h.events:
			if e.kind != "heartbeat" {
				return e, true
			}
		case <-deadline:
			return event{}, false
		}
	}
}

// readEvents reads n events (heartbeats are not events) within 5 s. With live
// (step expect_live) the component must also stay live meanwhile: no gap
// between its frames, heartbeats included, longer than 3 heartbeat
// intervals, after which a node gives it up; and, like a node, the harness
// sends a heartbeat every interval meanwhile.
func (h *harness) readEvents(i int, arg json.RawMessage, n int, live bool) []event {
	t := h.t
	var got []event
	deadline := time.After(5 * time.Second)
	var beat <-chan time.Time
	if live {
		tick := time.NewTicker(h.hb)
		defer tick.Stop()
		beat = tick.C
	}
	last := time.Now()
	for len(got) < n {
		var silent <-chan time.Time
		if live {
			silent = time.After(3*h.hb - time.Since(last))
		}
		select {
		case e := <-h.events:
			if gap := time.Since(last); live && gap > 3*h.hb {
				t.Fatalf("step %d: no frame for %v (3 x heartbeat = %v) with events %s so far", i, gap.Round(time.Millisecond), 3*h.hb, describeEvents(got))
			}
			last = time.Now()
			if e.kind != "heartbeat" {
				got = append(got, e)
			}
		case <-beat:
			if err := h.stream.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Heartbeat{Heartbeat: &galev1.Heartbeat{}}}); err != nil {
				t.Fatalf("step %d: send a heartbeat: %v", i, err)
			}
		case <-silent:
			t.Fatalf("step %d: no frame for 3 x heartbeat = %v with events %s so far", i, 3*h.hb, describeEvents(got))
		case <-deadline:
			t.Fatalf("step %d: expected %s; got only %s", i, arg, describeEvents(got))
		}
	}
	return got
}

// expectBusy waits, sending heartbeats as a node does, for a heartbeat
// whose busy_millis is at least minMs and whose busy_in is hook; any other
// frame before it fails the case.
func (h *harness) expectBusy(i int, hook string, minMs uint32) {
	t := h.t
	limit := time.Duration(minMs)*time.Millisecond + 5*h.hb + 2*time.Second
	deadline := time.After(limit)
	tick := time.NewTicker(h.hb)
	defer tick.Stop()
	var most uint32
	for {
		select {
		case e := <-h.events:
			if e.kind != "heartbeat" {
				t.Fatalf("step %d: expected only heartbeats while %s runs, got %s", i, hook, describeEvents([]event{e}))
			}
			if e.busyMs > 0 && e.busyIn != hook {
				t.Fatalf("step %d: a heartbeat says busy_in %q, want %q", i, e.busyIn, hook)
			}
			if e.busyMs >= minMs {
				return
			}
			most = max(most, e.busyMs)
		case <-tick.C:
			if err := h.stream.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Heartbeat{Heartbeat: &galev1.Heartbeat{}}}); err != nil {
				t.Fatalf("step %d: send a heartbeat: %v", i, err)
			}
		case <-deadline:
			t.Fatalf("step %d: no heartbeat with busy_millis >= %d within %v (the most was %d)", i, minMs, limit, most)
		}
	}
}

func (h *harness) step(i int, kind string, arg json.RawMessage) (ended bool) {
	t := h.t
	switch kind {
	case "send":
		f, err := frameFromJSON(arg)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if err := h.stream.Send(f); err != nil {
			t.Fatalf("step %d: send: %v", i, err)
		}
	case "expect", "expect_live":
		var want []map[string]json.RawMessage
		if err := json.Unmarshal(arg, &want); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := h.readEvents(i, arg, len(want), kind == "expect_live")
		if err := matchEvents(want, got); err != nil {
			t.Fatalf("step %d: %v\nexpected %s\ngot %s", i, err, arg, describeEvents(got))
		}
	case "expect_heartbeat":
		select {
		case e := <-h.events:
			if e.kind != "heartbeat" {
				t.Fatalf("step %d: expected a heartbeat, got %s", i, describeEvents([]event{e}))
			}
			if e.busyMs != 0 {
				t.Fatalf("step %d: an idle process's heartbeat says busy_millis %d (busy_in %q)", i, e.busyMs, e.busyIn)
			}
		case <-time.After(3 * h.hb):
			t.Fatalf("step %d: no heartbeat within %v", i, 3*h.hb)
		}
	case "expect_busy":
		var want struct {
			Hook  string `json:"hook"`
			MinMs uint32 `json:"min_ms"`
		}
		if err := json.Unmarshal(arg, &want); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		h.expectBusy(i, want.Hook, want.MinMs)
	case "silence_ms":
		var ms int
		_ = json.Unmarshal(arg, &ms)
		if e, ok := h.next(time.Duration(ms) * time.Millisecond); ok {
			t.Fatalf("step %d: expected silence, got %s", i, describeEvents([]event{e}))
		}
	case "close":
		h.node.end <- nil
	case "expect_end":
		var how string
		_ = json.Unmarshal(arg, &how)
		h.expectEnd(how == "error")
		return true
	case "expect_output":
		var line string
		_ = json.Unmarshal(arg, &line)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(h.stderr(), line) {
			if time.Now().After(deadline) {
				t.Fatalf("step %d: no %q on the process's stderr within 5 s", i, line)
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "signal":
		var name string
		_ = json.Unmarshal(arg, &name)
		sig, ok := map[string]os.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}[name]
		if !ok {
			t.Fatalf("step %d: unknown signal %s", i, arg)
		}
		if err := h.proc.Signal(sig); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	case "expect_stop":
		var want struct {
			Exit int `json:"exit"`
		}
		if err := json.Unmarshal(arg, &want); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		h.expectStop(i, want.Exit)
		return true
	default:
		t.Fatalf("step %d: unknown step %q", i, kind)
	}
	return false
}

func (h *harness) expectEnd(wantErr bool) {
	t := h.t
	limit := 5 * time.Second
	if wantErr {
		limit = 5*h.hb + 2*time.Second
	}
	select {
	case err := <-h.exited:
		var ee *exec.ExitError
		failed := errors.As(err, &ee) && ee.ExitCode() != 0
		if failed != wantErr {
			t.Fatalf("process ended with %v; want error=%v", err, wantErr)
		}
	case <-time.After(limit):
		t.Fatalf("process did not end within %v", limit)
	}
}

// stderr is what the process has written to stderr so far.
func (h *harness) stderr() string {
	b, _ := os.ReadFile(h.stderrPath)
	return string(b)
}

// expectStop checks a graceful stop: the process half-closes its stream
// with nothing but heartbeats after the last expect, and once the node has
// ended the stream it exits with code.
func (h *harness) expectStop(i, code int) {
	t := h.t
	e, ok := h.next(5 * time.Second)
	switch {
	case !ok:
		t.Fatalf("step %d: the process did not half-close its stream within 5 s", i)
	case e.kind != "end":
		t.Fatalf("step %d: expected the stream's half-close, got %s", i, describeEvents([]event{e}))
	case !errors.Is(e.err, io.EOF):
		t.Fatalf("step %d: the stream ended with %v, want a half-close (EOF)", i, e.err)
	}
	hook := map[string]string{"bolt": "cleanup", "spout": "close"}[h.kind]
	select { // it waits for the node to end the stream
	case err := <-h.exited:
		t.Fatalf("step %d: the process exited (%v) before the node ended the stream", i, err)
	case <-time.After(300 * time.Millisecond):
	}
	if strings.Contains(h.stderr(), "conformance: "+hook) {
		t.Fatalf("step %d: the %s hook ran before the node ended the stream", i, hook)
	}
	h.node.end <- nil
	select {
	case err := <-h.exited:
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("step %d: waiting for the process: %v", i, err)
		}
		if got != code {
			t.Fatalf("step %d: the process exited %d (%v), want %d", i, got, err, code)
		}
		if !strings.Contains(h.stderr(), "conformance: "+hook) {
			t.Fatalf("step %d: the process exited without running its %s hook", i, hook)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("step %d: the process did not exit within 5 s of the stream's end", i)
	}
}

func describeEvents(es []event) string {
	var parts []string
	for _, e := range es {
		switch e.kind {
		case "emit":
			b, _ := protojson.Marshal(e.emit)
			parts = append(parts, "emit "+string(b))
		case "ack", "fail", "reset_timeout":
			parts = append(parts, fmt.Sprintf("%s %d", e.kind, e.id))
		case "log", "error":
			parts = append(parts, fmt.Sprintf("%s %s %q", e.kind, e.log.GetLevel(), e.log.GetMessage()))
		case "next_done":
			parts = append(parts, fmt.Sprintf("next_done eoi=%v", e.eoi))
		case "end":
			parts = append(parts, fmt.Sprintf("end (%v)", e.err))
		default:
			parts = append(parts, e.kind)
		}
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// matchEvents compares events other than acks, fails and timeout resets in
// order; those as a multiset, acks and fails each after every emit
// anchored to its input, resets before the ack or fail of their input,
// and all before the next_done or finished that follows them in want (the
// README's rules).
func matchEvents(want []map[string]json.RawMessage, got []event) error {
	var wantOther []map[string]json.RawMessage
	var gotOther []event
	var wantAcks, gotAcks []string
	for _, w := range want {
		if isAckish(w) {
			for kind, v := range w {
				wantAcks = append(wantAcks, kind+" "+string(v))
			}
		} else {
			wantOther = append(wantOther, w)
		}
	}
	for _, g := range got {
		if ackish(g.kind) {
			gotAcks = append(gotAcks, fmt.Sprintf("%s %d", g.kind, g.id))
		} else {
			gotOther = append(gotOther, g)
		}
	}
	if len(gotOther) != len(wantOther) {
		return fmt.Errorf("%d events besides acks and fails, want %d", len(gotOther), len(wantOther))
	}
	for i := range wantOther {
		if err := matchEvent(wantOther[i], gotOther[i]); err != nil {
			return fmt.Errorf("event %d (acks aside): %w", i, err)
		}
	}
	sort.Strings(wantAcks)
	sort.Strings(gotAcks)
	if strings.Join(wantAcks, ",") != strings.Join(gotAcks, ",") {
		return fmt.Errorf("acks/fails %v, want %v", gotAcks, wantAcks)
	}
	// Each ack after every emit anchored to its input.
	for i, g := range got {
		if g.kind != "ack" && g.kind != "fail" {
			continue
		}
		for _, later := range got[i+1:] {
			if later.kind == "emit" && slices.Contains(later.emit.GetAnchors(), g.id) {
				return fmt.Errorf("%s %d was sent before an emit anchored to it", g.kind, g.id)
			}
			if later.kind == "reset_timeout" && later.id == g.id {
				return fmt.Errorf("reset_timeout %d was sent after its input's %s", g.id, g.kind)
			}
		}
	}
	// Each ack before the next_done/finished that follows it in want.
	for i, w := range want {
		if !isAckish(w) {
			continue
		}
		barrier := -1
		others := 0
		for j, x := range want {
			if j > i && barrier < 0 && !isAckish(x) && (x["finished"] != nil || x["next_done"] != nil) {
				barrier = others
			}
			if !isAckish(x) && (barrier < 0) {
				others++
			}
		}
		if barrier < 0 {
			continue
		}
		var kind string
		var id uint64
		for k, v := range w {
			kind = k
			_ = json.Unmarshal(v, &id)
		}
		before := 0
		for _, g := range got {
			if g.kind == kind && g.id == id {
				break
			}
			if !ackish(g.kind) {
				before++
			}
		}
		if before > barrier {
			return fmt.Errorf("%s %d was sent after the next_done/finished it must precede", kind, id)
		}
	}
	return nil
}

func isAckish(w map[string]json.RawMessage) bool {
	for kind := range w {
		if ackish(kind) {
			return true
		}
	}
	return false
}

// ackish tells the events that compare as a multiset.
func ackish(kind string) bool { return kind == "ack" || kind == "fail" || kind == "reset_timeout" }

func matchEvent(want map[string]json.RawMessage, got event) error {
	for kind, arg := range want {
		if kind != got.kind {
			return fmt.Errorf("got %s, want %s", got.kind, kind)
		}
		switch kind {
		case "emit":
			var w struct {
				Stream     string            `json:"stream"`
				Values     []json.RawMessage `json:"values"`
				Anchors    []uint64          `json:"anchors"`
				MessageID  uint64            `json:"message_id"`
				DirectTask int32             `json:"direct_task"`
			}
			if err := json.Unmarshal(arg, &w); err != nil {
				return err
			}
			if w.Stream == "" {
				w.Stream = "default"
			}
			em := got.emit
			gs := em.GetStream()
			if gs == "" {
				gs = "default"
			}
			if gs != w.Stream || em.GetMessageId() != w.MessageID || em.GetDirectTask() != w.DirectTask {
				return fmt.Errorf("emit stream/message_id/direct_task %s/%d/%d, want %s/%d/%d", gs, em.GetMessageId(), em.GetDirectTask(), w.Stream, w.MessageID, w.DirectTask)
			}
			if len(em.GetValues()) != len(w.Values) {
				return fmt.Errorf("emit has %d values, want %d", len(em.GetValues()), len(w.Values))
			}
			for k, raw := range w.Values {
				v, err := valueFromJSON(raw)
				if err != nil {
					return err
				}
				if !sdk.ValueFromProto(v).Equal(sdk.ValueFromProto(em.GetValues()[k])) {
					return fmt.Errorf("emit value %d is %v, want %v", k, em.GetValues()[k], v)
				}
			}
			ga := append([]uint64(nil), em.GetAnchors()...)
			sort.Slice(ga, func(a, b int) bool { return ga[a] < ga[b] })
			sort.Slice(w.Anchors, func(a, b int) bool { return w.Anchors[a] < w.Anchors[b] })
			if fmt.Sprint(ga) != fmt.Sprint(w.Anchors) {
				return fmt.Errorf("emit anchors %v, want %v", ga, w.Anchors)
			}
		case "log", "error":
			var w struct {
				Level    string   `json:"level"`
				Contains []string `json:"contains"`
			}
			if err := json.Unmarshal(arg, &w); err != nil {
				return err
			}
			msg := strings.ToLower(got.log.GetMessage())
			for _, c := range w.Contains {
				if !strings.Contains(msg, strings.ToLower(c)) {
					return fmt.Errorf("%s %q does not contain %q", kind, got.log.GetMessage(), c)
				}
			}
			if w.Level != "" {
				lv := strings.ToLower(strings.TrimPrefix(got.log.GetLevel().String(), "LOG_LEVEL_"))
				if lv == "unspecified" {
					lv = "info"
				}
				if lv != w.Level {
					return fmt.Errorf("%s level %s, want %s", kind, lv, w.Level)
				}
			}
		case "next_done":
			var w struct {
				EOI bool `json:"end_of_input"`
			}
			if err := json.Unmarshal(arg, &w); err != nil {
				return err
			}
			if got.eoi != w.EOI {
				return fmt.Errorf("next_done end_of_input %v, want %v", got.eoi, w.EOI)
			}
		case "finished":
		default:
			return fmt.Errorf("unknown event kind %q", kind)
		}
	}
	return nil
}

// frameFromJSON builds an AttachResponse from a case's send form.
func frameFromJSON(raw json.RawMessage) (*galev1.AttachResponse, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for kind, arg := range m {
		switch kind {
		case "inputs":
			var ts []struct {
				ID         uint64            `json:"id"`
				Stream     string            `json:"stream"`
				SourceTask int32             `json:"source_task"`
				Values     []json.RawMessage `json:"values"`
			}
			if err := json.Unmarshal(arg, &ts); err != nil {
				return nil, err
			}
			b := &galev1.TupleBatch{}
			for _, t := range ts {
				pt := &galev1.Tuple{Id: t.ID, Stream: t.Stream, SourceTask: t.SourceTask}
				for _, v := range t.Values {
					pv, err := valueFromJSON(v)
					if err != nil {
						return nil, err
					}
					pt.Values = append(pt.Values, pv)
				}
				b.Tuples = append(b.Tuples, pt)
			}
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_Inputs{Inputs: b}}, nil
		case "next":
			var n struct {
				Max int32 `json:"max"`
			}
			if err := json.Unmarshal(arg, &n); err != nil {
				return nil, err
			}
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_Next{Next: &galev1.NextRequest{Max: n.Max}}}, nil
		case "spout_acks":
			var a struct {
				Acked  []uint64 `json:"acked"`
				Failed []uint64 `json:"failed"`
			}
			if err := json.Unmarshal(arg, &a); err != nil {
				return nil, err
			}
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_SpoutAcks{SpoutAcks: &galev1.SpoutAcks{Acked: a.Acked, Failed: a.Failed}}}, nil
		case "activate":
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_Activate{Activate: &galev1.Activate{}}}, nil
		case "deactivate":
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_Deactivate{Deactivate: &galev1.Deactivate{}}}, nil
		case "end_of_input":
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_EndOfInput{EndOfInput: &galev1.EndOfInput{}}}, nil
		case "heartbeat":
			return &galev1.AttachResponse{Frame: &galev1.AttachResponse_Heartbeat{Heartbeat: &galev1.Heartbeat{}}}, nil
		case "empty":
			return &galev1.AttachResponse{}, nil
		default:
			return nil, fmt.Errorf("unknown frame form %q", kind)
		}
	}
	return nil, errors.New("empty send step")
}

// valueFromJSON reads the suite's JSON form of a Value.
func valueFromJSON(raw json.RawMessage) (*galev1.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return &galev1.Value{}, nil
	case string:
		return sdk.ValueToProto(sdk.String(x)), nil
	case bool:
		return sdk.ValueToProto(sdk.Bool(x)), nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return sdk.ValueToProto(sdk.Int(i)), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return sdk.ValueToProto(sdk.Double(f)), nil
	case map[string]any:
		if d, ok := x["double"].(json.Number); ok {
			f, err := d.Float64()
			return sdk.ValueToProto(sdk.Double(f)), err
		}
		if b, ok := x["bytes"].(string); ok {
			data, err := base64.StdEncoding.DecodeString(b)
			return sdk.ValueToProto(sdk.Bytes(data)), err
		}
	}
	return nil, fmt.Errorf("not a conformance value: %s", raw)
}
