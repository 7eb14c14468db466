package external

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Storm multilang (the ShellBolt/ShellSpout protocol of Apache Storm, spoken
// by Storm's own storm.py and storm.js): JSON messages over the process's
// stdin and stdout, each followed by a line "end". A multilangSession
// translates it to and from Attach frames, so the executor drives a Storm
// script exactly as it drives an Attach process. What is supported is
// documented in sdk/MULTILANG.md.

// MultilangRouter is implemented by sessions that must be told where each
// emit went (Storm scripts wait for the task ids of their emits). The
// executor calls Routed once per emit, in order, with the destination
// tasks (none if the emit was rejected).
type MultilangRouter interface {
	Routed(tasks []int32)
}

// routeAnswer is a pending answer to an emit: want says the script waits
// for the task ids; rejected emits (the node never sees them) are answered
// with no tasks as soon as the emits before them are.
type routeAnswer struct{ want, rejected bool }

// MultilangSDK is the SDK a Storm multilang session's hello names.
const MultilangSDK = "storm-multilang"

// multilangSession is a Session over a Storm multilang process.
type multilangSession struct {
	hello   *galev1.AttachHello
	welcome *galev1.TaskContext
	spout   bool
	w       io.Writer // the process's stdin
	taskOf  map[int32]string

	frames chan *galev1.AttachRequest
	done   chan struct{}
	once   sync.Once
	// framesMu guards the close of frames against deliveries from other
	// goroutines (closeFrames).
	framesMu     sync.RWMutex
	framesClosed bool

	mu  sync.Mutex
	err error
	// replies expected from the process, in order: "next", "ack",
	// "heartbeat"... each answered by a sync.
	syncs []string
	// since is when the oldest expected reply was asked for.
	since time.Time
	// routes are the pending task-id answers, in emit order.
	routes []routeAnswer
	// held counts inputs sent and not yet acked or failed; finish is set
	// once end_of_input came, and finished is sent when held is zero.
	held   map[string]bool
	finish bool
	// msgIDs maps a spout's Gale message ids to the script's ids. Each
	// emit with an id gets one of its own, as each is a tree of its own in
	// Storm (an id emitted twice gets two results).
	msgIDs  map[uint64]json.RawMessage
	lastMsg uint64
	// A spout gets one command at a time, the next once the last one's
	// sync came, as Storm's ShellSpout does: spoutBusy says one is
	// unanswered, spoutQueue holds the others in order (an ack written
	// while next waited was read as part of it).
	spoutBusy  bool
	spoutQueue []spoutCommand
	// activated is the spout's state as told: a new process is taken as
	// active and hears activate and deactivate on changes only. Not at
	// start: storm.js's default activate never answers its sync, and a
	// spout on it waited for ever behind that activate.
	activated bool
	started   bool // a next was sent
	// Writes to the process's stdin go through a queue and a writer
	// goroutine: a script blocked writing its stdout (emits the node has
	// not taken yet) must not block the node writing its stdin, or the
	// two wait on each other.
	outMu   sync.Mutex
	out     [][]byte
	outWake chan struct{}
}

// ServeMultilang runs the Storm multilang handshake with a process and, if
// it succeeds, offers the session to slot; it then translates until the
// process's stdout ends or the session is closed. spout says which kind
// the component is; timeout bounds how long the process may leave a
// command (or heartbeat) unanswered.
func ServeMultilang(slot *Slot, stdin io.WriteCloser, stdout io.Reader, spout bool, timeout time.Duration) error {
	defer stdin.Close()
	r := bufio.NewReaderSize(stdout, 64<<10)
	s := &multilangSession{
		welcome: slot.welcome,
		spout:   spout,
		// activated: as the node takes a new process (see the field).
		activated: true,
		w:         stdin,
		taskOf:    map[int32]string{},
		frames:    make(chan *galev1.AttachRequest, 16),
		done:      make(chan struct{}),
		held:      map[string]bool{},
		msgIDs:    map[uint64]json.RawMessage{},
		outWake:   make(chan struct{}, 1),
	}
	for comp, ids := range s.welcome.GetComponentTasks() {
		for _, id := range ids.GetIds() {
			s.taskOf[id] = comp
		}
	}
	pidDir, err := makePidDir()
	if err != nil {
		return fmt.Errorf("multilang handshake: %w", err)
	}
	defer os.RemoveAll(pidDir)
	if err := s.writeNow(s.setup(pidDir)); err != nil {
		return fmt.Errorf("multilang handshake: writing the setup message: %w", err)
	}
	type pidMsg struct {
		Pid     *int32 `json:"pid"`
		Command string `json:"command"`
	}
	got := make(chan error, 1)
	var pm pidMsg
	var early []json.RawMessage // log commands before the pid (storm.js logs from initialize)
	go func() {
		for {
			raw, err := readMultilang(r)
			if err == nil {
				pm = pidMsg{}
				err = json.Unmarshal(raw, &pm)
				if err == nil && pm.Pid == nil && pm.Command == "log" {
					if len(early) == 1000 {
						err = fmt.Errorf("1000 log commands and no {\"pid\": N} yet: the handshake wants the pid first")
					} else {
						early = append(early, raw)
						continue
					}
				}
				if err == nil && pm.Pid == nil {
					err = fmt.Errorf("expected {\"pid\": N}, got %s", truncate(raw))
				}
			}
			got <- err
			return
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("multilang handshake: %w", err)
		}
	case <-time.After(HelloTimeout):
		return fmt.Errorf("multilang handshake: no pid message within %v", HelloTimeout)
	}
	s.hello = &galev1.AttachHello{
		Topology: s.welcome.GetTopology(), Component: s.welcome.GetComponent(), TaskId: s.welcome.GetTaskId(),
		Sdk: MultilangSDK, Pid: *pm.Pid,
	}
	if err := slot.Offer(s); err != nil {
		return err
	}
	go s.writer()
	go s.watch(timeout, slot.heartbeat)
	for _, raw := range early {
		s.handle(raw)
	}
	err = s.read(r)
	s.end(err) // first, so that Err is set once Frames is closed
	s.closeFrames()
	return err
}

func (s *multilangSession) Hello() *galev1.AttachHello           { return s.hello }
func (s *multilangSession) Frames() <-chan *galev1.AttachRequest { return s.frames }
func (s *multilangSession) Done() <-chan struct{}                { return s.done }

func (s *multilangSession) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *multilangSession) end(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
		// Storm scripts end when their stdin does.
		if c, ok := s.w.(io.Closer); ok {
			_ = c.Close()
		}
	})
}

func (s *multilangSession) Close(err error) { s.end(err) }

// setup is the handshake message: conf, context, pidDir.
func (s *multilangSession) setup(pidDir string) map[string]any {
	w := s.welcome
	conf := map[string]any{}
	for k, v := range w.GetConfig() {
		conf[k] = valueToJSON(v)
	}
	taskComp := map[string]string{}
	for id, comp := range s.taskOf {
		taskComp[strconv.Itoa(int(id))] = comp
	}
	outFields := map[string][]string{}
	var streams []string
	for _, o := range w.GetOutputs() {
		outFields[o.GetId()] = o.GetFields()
		streams = append(streams, o.GetId())
	}
	srcFields := map[string]map[string][]string{}
	for key, f := range w.GetSourceFields() {
		comp, stream := splitKey(key)
		if srcFields[comp] == nil {
			srcFields[comp] = map[string][]string{}
		}
		srcFields[comp][stream] = f.GetNames()
	}
	return map[string]any{
		"conf":   conf,
		"pidDir": pidDir,
		"context": map[string]any{
			"task->component":        taskComp,
			"taskid":                 w.GetTaskId(),
			"componentid":            w.GetComponent(),
			"streams":                streams,
			"stream->outputfields":   outFields,
			"source->stream->fields": srcFields,
		},
	}
}

func splitKey(key string) (comp, stream string) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == ':' {
			return key[:i], key[i+1:]
		}
	}
	return key, "default"
}

// write sends one message followed by "end".
func (s *multilangSession) write(msg any) error {
	data, err := encodeMultilang(msg)
	if err != nil {
		return err
	}
	s.outMu.Lock()
	s.out = append(s.out, data)
	s.outMu.Unlock()
	select {
	case s.outWake <- struct{}{}:
	default:
	}
	return nil
}

// writeNow writes a message at once (the handshake, before the writer
// runs).
func (s *multilangSession) writeNow(msg any) error {
	data, err := encodeMultilang(msg)
	if err == nil {
		_, err = s.w.Write(data)
	}
	return err
}

func encodeMultilang(msg any) ([]byte, error) {
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return append(data, "\nend\n"...), nil
}

// writer writes queued messages to the process's stdin, in order.
func (s *multilangSession) writer() {
	for {
		select {
		case <-s.outWake:
		case <-s.done:
			return
		}
		s.outMu.Lock()
		batch := s.out
		s.out = nil
		s.outMu.Unlock()
		for _, data := range batch {
			if _, err := s.w.Write(data); err != nil {
				s.end(fmt.Errorf("writing to the process: %w", err))
				return
			}
		}
	}
}

// expect records that the process owes a sync for a command.
func (s *multilangSession) expect(kind string) {
	s.mu.Lock()
	s.expectLocked(kind)
	s.mu.Unlock()
}

// expectLocked is expect with mu held.
func (s *multilangSession) expectLocked(kind string) {
	if len(s.syncs) == 0 {
		s.since = time.Now()
	}
	s.syncs = append(s.syncs, kind)
}

// Send translates a node frame into multilang commands. It writes on the
// caller's goroutine: Storm scripts read their stdin in one loop, and the
// executor bounds what it sends.
func (s *multilangSession) Send(f *galev1.AttachResponse) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	var err error
	switch fr := f.GetFrame().(type) {
	case *galev1.AttachResponse_Inputs:
		for _, t := range fr.Inputs.GetTuples() {
			if err = s.sendTuple(t); err != nil {
				break
			}
		}
	case *galev1.AttachResponse_Next:
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
		err = s.toSpout("next", map[string]string{"command": "next"})
	case *galev1.AttachResponse_SpoutAcks:
		for _, id := range fr.SpoutAcks.GetAcked() {
			if err = s.spoutResult("ack", id); err != nil {
				break
			}
		}
		for _, id := range fr.SpoutAcks.GetFailed() {
			if err = s.spoutResult("fail", id); err != nil {
				break
			}
		}
	case *galev1.AttachResponse_Activate:
		err = s.activate()
	case *galev1.AttachResponse_Deactivate:
		s.mu.Lock()
		was, started := s.activated, s.started
		s.activated = false
		s.mu.Unlock()
		// A deactivate before any next is the state the process starts
		// in (gale submit --inactive): Storm tells such a spout nothing
		// until it is activated.
		if was && started {
			err = s.toSpout("deactivate", map[string]string{"command": "deactivate"})
		}
	case *galev1.AttachResponse_EndOfInput:
		s.mu.Lock()
		s.finish = true
		s.mu.Unlock()
		s.maybeFinished()
	case *galev1.AttachResponse_Heartbeat:
		if !s.spout {
			s.expect("heartbeat")
			err = s.write(map[string]any{"id": "-1", "comp": "__system", "stream": "__heartbeat", "task": -1, "tuple": []any{}})
		}
	}
	if err != nil {
		s.end(fmt.Errorf("writing to the process: %w", err))
		return false
	}
	return true
}

// tickID is the id of tick tuples: bolts anchor to them and ack them as
// to any input (storm.py's BasicBolt, storm.js, pystorm), and Storm takes
// both as no-ops. Inputs the node sends have ids from 1.
const tickID = "0"

func (s *multilangSession) sendTuple(t *galev1.Tuple) error {
	if t.GetStream() == "__tick" {
		return s.write(map[string]any{"id": tickID, "comp": "__system", "stream": "__tick", "task": -1, "tuple": []any{}})
	}
	vals := make([]any, len(t.GetValues()))
	for i, v := range t.GetValues() {
		vals[i] = valueToJSON(v)
	}
	id := strconv.FormatUint(t.GetId(), 10)
	s.mu.Lock()
	s.held[id] = true
	s.mu.Unlock()
	return s.write(map[string]any{"id": id, "comp": s.taskOf[t.GetSourceTask()], "stream": t.GetStream(), "task": t.GetSourceTask(), "tuple": vals})
}

func (s *multilangSession) spoutResult(cmd string, id uint64) error {
	s.mu.Lock()
	raw, ok := s.msgIDs[id]
	delete(s.msgIDs, id)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return s.toSpout(cmd, map[string]any{"command": cmd, "id": raw})
}

// activate tells the spout activate unless it is active as told.
func (s *multilangSession) activate() error {
	s.mu.Lock()
	was := s.activated
	s.activated = true
	s.mu.Unlock()
	if was {
		return nil
	}
	return s.toSpout("activate", map[string]string{"command": "activate"})
}

// spoutCommand is a command for a spout waiting for the sync of the one
// before it.
type spoutCommand struct {
	kind string
	msg  any
}

// toSpout writes a command to a spout process, or queues it while the
// process owes the sync of another (the sync's handling writes it then).
func (s *multilangSession) toSpout(kind string, msg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spoutBusy {
		s.spoutQueue = append(s.spoutQueue, spoutCommand{kind, msg})
		return nil
	}
	return s.sendSpoutLocked(spoutCommand{kind, msg})
}

// sendSpoutLocked writes c and records the sync it is owed; mu is held.
func (s *multilangSession) sendSpoutLocked(c spoutCommand) error {
	s.spoutBusy = true
	s.expectLocked(c.kind)
	return s.write(c.msg)
}

// Routed implements MultilangRouter: it answers the task ids an emit went
// to, if the script waits for them, and then any rejected emits after it.
func (s *multilangSession) Routed(tasks []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.routes) == 0 {
		return
	}
	first := s.routes[0]
	s.routes = s.routes[1:]
	if first.want {
		s.answer(tasks)
	}
	s.answerRejected()
}

// answerRejected answers the rejected emits at the head of the queue;
// called with mu held.
func (s *multilangSession) answerRejected() {
	for len(s.routes) > 0 && s.routes[0].rejected {
		if s.routes[0].want {
			s.answer(nil)
		}
		s.routes = s.routes[1:]
	}
}

// answer writes a task id list; called with mu held, so answers keep the
// order of the emits.
func (s *multilangSession) answer(tasks []int32) {
	if tasks == nil {
		tasks = []int32{}
	}
	if err := s.write(tasks); err != nil {
		go s.end(fmt.Errorf("writing to the process: %w", err))
	}
}

func (s *multilangSession) maybeFinished() {
	s.mu.Lock()
	ready := s.finish && len(s.held) == 0
	if ready {
		s.finish = false
	}
	s.mu.Unlock()
	if ready {
		s.deliver(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Finished{Finished: &galev1.Finished{}}})
	}
}

func (s *multilangSession) deliver(f *galev1.AttachRequest) {
	s.framesMu.RLock()
	defer s.framesMu.RUnlock()
	if s.framesClosed {
		return
	}
	select {
	case s.frames <- f:
	case <-s.done:
	}
}

// closeFrames closes Frames after the session ended (done is closed, so
// a deliver waiting to send gives up and lets go of framesMu). Deliveries
// come from the executor too (Send, when an end of input finds no input
// held): one on a closed channel crashed the node.
func (s *multilangSession) closeFrames() {
	s.framesMu.Lock()
	defer s.framesMu.Unlock()
	s.framesClosed = true
	close(s.frames)
}

// watch sends a bolt a heartbeat tuple every heartbeat interval (Storm's
// ShellBolt does the same; a spout proves itself by answering next), and
// ends the session when the process leaves a command unanswered for
// longer than timeout.
func (s *multilangSession) watch(timeout, heartbeat time.Duration) {
	tick := time.NewTicker(min(heartbeat, timeout/4))
	defer tick.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if !s.spout && time.Since(lastBeat) >= heartbeat {
				lastBeat = time.Now()
				s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Heartbeat{Heartbeat: &galev1.Heartbeat{}}})
			}
			s.mu.Lock()
			late := len(s.syncs) > 0 && time.Since(s.since) > timeout
			what := ""
			if late {
				what = s.syncs[0]
			}
			s.mu.Unlock()
			if late {
				s.end(fmt.Errorf("%w: the process did not answer %s within %v", ErrNoHeartbeat, what, timeout))
				return
			}
		}
	}
}

// read translates the process's messages into frames until stdout ends.
func (s *multilangSession) read(r *bufio.Reader) error {
	for {
		raw, err := readMultilang(r)
		if err != nil {
			select {
			case <-s.done:
				return s.Err()
			default:
			}
			if errors.Is(err, io.EOF) {
				return ErrProcessEnded
			}
			return err
		}
		if err := s.handle(raw); err != nil {
			return err
		}
	}
}

// handle acts on one message from the process; an error ends the session.
func (s *multilangSession) handle(raw json.RawMessage) error {
	var m struct {
		Command     string            `json:"command"`
		ID          json.RawMessage   `json:"id"`
		Anchors     []json.RawMessage `json:"anchors"`
		Stream      *string           `json:"stream"`
		Task        *int32            `json:"task"`
		Tuple       []json.RawMessage `json:"tuple"`
		NeedTaskIDs *bool             `json:"need_task_ids"`
		Msg         string            `json:"msg"`
		Level       *int              `json:"level"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		// A line printed outside the protocol merged with the next
		// message, which is lost: the script may now wait for an
		// answer that never comes (storm.py for task ids). Storm's
		// ShellBolt dies here too; the process is restarted at once
		// and what it held replays, rather than after the timeout.
		return fmt.Errorf("a message that is not a JSON object (a line printed to stdout outside the protocol? use the library's log): %s", truncate(raw))
	}
	switch m.Command {
	case "emit":
		s.emit(m.ID, m.Anchors, m.Stream, m.Task, m.Tuple, m.NeedTaskIDs)
	case "ack", "fail":
		id := jsonString(m.ID)
		if id == tickID {
			return nil // a tick tuple: nothing to ack or fail
		}
		s.mu.Lock()
		held := s.held[id]
		delete(s.held, id)
		s.mu.Unlock()
		n, err := strconv.ParseUint(id, 10, 64)
		if !held || err != nil {
			s.deliver(errorFrame(fmt.Sprintf("multilang: %s of tuple id %s, which the process does not hold", m.Command, truncate(m.ID))))
			return nil
		}
		acks := &galev1.InputAcks{}
		if m.Command == "ack" {
			acks.Acked = []uint64{n}
		} else {
			acks.Failed = []uint64{n}
		}
		s.deliver(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Acks{Acks: acks}})
		s.maybeFinished()
	case "sync":
		s.mu.Lock()
		var kind string
		if len(s.syncs) > 0 {
			kind = s.syncs[0]
			s.syncs = s.syncs[1:]
			s.since = time.Now()
		}
		var werr error
		if s.spout {
			s.spoutBusy = false
			if len(s.spoutQueue) > 0 {
				c := s.spoutQueue[0]
				s.spoutQueue = s.spoutQueue[1:]
				werr = s.sendSpoutLocked(c)
			}
		}
		s.mu.Unlock()
		if werr != nil {
			s.end(fmt.Errorf("writing to the process: %w", werr))
		}
		if kind == "next" {
			s.deliver(&galev1.AttachRequest{Frame: &galev1.AttachRequest_NextDone{NextDone: &galev1.NextDone{}}})
		}
	case "log":
		level := galev1.LogLevel_LOG_LEVEL_INFO
		if m.Level != nil {
			switch {
			case *m.Level <= 1:
				level = galev1.LogLevel_LOG_LEVEL_DEBUG
			case *m.Level == 3:
				level = galev1.LogLevel_LOG_LEVEL_WARN
			case *m.Level >= 4:
				level = galev1.LogLevel_LOG_LEVEL_ERROR
			}
		}
		s.deliver(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Log{Log: &galev1.LogRecord{Level: level, Message: m.Msg}}})
	case "error":
		s.deliver(errorFrame(m.Msg))
	case "metrics":
		// Storm's metrics RPC: Gale keeps its own counters.
	default:
		s.deliver(errorFrame(fmt.Sprintf("multilang: unknown command %q in %s", m.Command, truncate(raw))))
	}
	return nil
}

func (s *multilangSession) emit(id json.RawMessage, anchors []json.RawMessage, stream *string, task *int32, tuple []json.RawMessage, need *bool) {
	em := &galev1.Emit{Stream: "default"}
	if stream != nil {
		em.Stream = *stream
	}
	direct := task != nil && *task != 0
	if direct {
		em.DirectTask = *task
	}
	// Storm answers the task ids of every non-direct emit unless the
	// script says need_task_ids: false.
	wantIDs := !direct && (need == nil || *need)
	for i, raw := range tuple {
		v, err := valueFromJSON(raw)
		if err != nil {
			s.reject(wantIDs, fmt.Sprintf("multilang: emit on stream %q: field %d: %v", em.Stream, i, err))
			return
		}
		em.Values = append(em.Values, v)
	}
	if s.spout {
		if len(id) > 0 && string(id) != "null" {
			s.mu.Lock()
			s.lastMsg++
			n := s.lastMsg
			s.msgIDs[n] = append(json.RawMessage(nil), id...)
			s.mu.Unlock()
			em.MessageId = n
		}
	} else {
		for _, a := range anchors {
			if jsonString(a) == tickID {
				continue // anchored to a tick tuple: Storm emits it unanchored
			}
			n, err := strconv.ParseUint(jsonString(a), 10, 64)
			if err != nil {
				s.reject(wantIDs, fmt.Sprintf("multilang: emit anchored to %s, which is not a tuple id this node sent", truncate(a)))
				return
			}
			em.Anchors = append(em.Anchors, n)
		}
	}
	s.mu.Lock()
	s.routes = append(s.routes, routeAnswer{want: wantIDs})
	s.mu.Unlock()
	s.deliver(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Emits{Emits: &galev1.EmitBatch{Emits: []*galev1.Emit{em}}}})
}

// reject reports an emit the node never sees; a script waiting for its
// task ids gets an empty list, in order.
func (s *multilangSession) reject(wantIDs bool, msg string) {
	s.mu.Lock()
	s.routes = append(s.routes, routeAnswer{want: wantIDs, rejected: true})
	s.answerRejected()
	s.mu.Unlock()
	s.deliver(errorFrame(msg))
}

func errorFrame(msg string) *galev1.AttachRequest {
	return &galev1.AttachRequest{Frame: &galev1.AttachRequest_Error{Error: &galev1.LogRecord{Level: galev1.LogLevel_LOG_LEVEL_ERROR, Message: msg}}}
}

// readMultilang reads one message: lines up to a line "end".
func readMultilang(r *bufio.Reader) (json.RawMessage, error) {
	var msg []byte
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if len(msg) > 0 || len(line) > 0 {
				return nil, fmt.Errorf("the process's output ended inside a message: %w", err)
			}
			return nil, err
		}
		if string(bytes.TrimRight(line, "\r\n")) == "end" {
			if len(bytes.TrimSpace(msg)) == 0 {
				msg = msg[:0]
				continue // an empty message: Storm tolerates them
			}
			return json.RawMessage(bytes.TrimSpace(msg)), nil
		}
		msg = append(msg, line...)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// jsonString reads a JSON string or number as its text.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// valueToJSON gives a Value's JSON form for a Storm script: bytes become
// base64 strings.
func valueToJSON(v *galev1.Value) any {
	switch k := v.GetKind().(type) {
	case *galev1.Value_StringValue:
		return k.StringValue
	case *galev1.Value_IntValue:
		return k.IntValue
	case *galev1.Value_DoubleValue:
		if math.IsNaN(k.DoubleValue) || math.IsInf(k.DoubleValue, 0) {
			return nil // JSON has no NaN or infinity
		}
		return k.DoubleValue
	case *galev1.Value_BoolValue:
		return k.BoolValue
	case *galev1.Value_BytesValue:
		return base64.StdEncoding.EncodeToString(k.BytesValue)
	}
	return nil
}

// valueFromJSON reads a field a Storm script emitted.
func valueFromJSON(raw json.RawMessage) (*galev1.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	switch v := x.(type) {
	case nil:
		return &galev1.Value{}, nil
	case string:
		return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: v}}, nil
	case bool:
		return &galev1.Value{Kind: &galev1.Value_BoolValue{BoolValue: v}}, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: i}}, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", v)
		}
		return &galev1.Value{Kind: &galev1.Value_DoubleValue{DoubleValue: f}}, nil
	case []any:
		return nil, fmt.Errorf("a JSON list; Gale values are strings, numbers, booleans or null (emit lists as separate fields or as a JSON string)")
	default:
		return nil, fmt.Errorf("a JSON object; Gale values are strings, numbers, booleans or null (emit objects as a JSON string)")
	}
}
