package sessions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/window"
)

// maxReported is how many bad lines a spout task reports one by one.
const maxReported = 100

// punctMsgID is the message id of the end-of-event-time punctuation; lines
// have ids from 1.
const punctMsgID = 0

// JSONLinesSpout reads visitor events from the file at sessions.input, one
// JSON object a line, and emits them reliably (message id: line number).
// With n tasks, task i emits the lines whose 0-based number is i mod n.
// After its last line it emits window.EndOfEventTime on stream
// "watermark" and declares end of input. Failed lines are emitted again.
type JSONLinesSpout struct {
	out   *sdk.SpoutCollector
	log   *slog.Logger
	path  string
	batch int

	f           *os.File
	r           *bufio.Reader
	lineNo      uint64
	task, tasks uint64
	eof         bool
	punctDone   bool // the punctuation was acked
	punctOut    bool // the punctuation is in flight
	ended       bool

	pending map[uint64][]sdk.Value
	retry   []uint64
	queued  map[uint64]bool
	bad     int64
}

// NewJSONLinesSpout returns a spout to be configured by Open.
func NewJSONLinesSpout() *JSONLinesSpout { return &JSONLinesSpout{} }

// DeclareOutputFields declares the events and the punctuation stream.
func (s *JSONLinesSpout) DeclareOutputFields(d *sdk.OutputDeclarer) {
	d.Declare(EventFields...)
	d.DeclareStream(window.DefaultPunctuationStream, "watermark")
}

// Open opens the input; a missing file fails here, with its path.
func (s *JSONLinesSpout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.out, s.log = out, tc.Log
	if s.log == nil {
		s.log = slog.Default()
	}
	s.path = tc.Config.String(KeyInput, "")
	if s.path == "" {
		return fmt.Errorf("%s: config %s: required, the JSON-lines event file", ClassSpout, KeyInput)
	}
	batch, err := tc.Config.Int(KeyBatch, 64)
	if err != nil {
		return fmt.Errorf("%s: %w", ClassSpout, err)
	}
	if batch < 1 {
		return fmt.Errorf("%s: config %s: must be at least 1, got %d", ClassSpout, KeyBatch, batch)
	}
	s.batch = int(batch)
	tasks := len(tc.ComponentTasks[tc.Component])
	if tasks == 0 {
		tasks = 1
	}
	s.task, s.tasks = uint64(tc.TaskIndex), uint64(tasks)
	f, err := os.Open(s.path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: open event input %q (%s): %w", ClassSpout, s.path, KeyInput, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return fmt.Errorf("%s: event input %q (%s) is a directory, want a file", ClassSpout, s.path, KeyInput)
	}
	s.f, s.r = f, bufio.NewReaderSize(f, 64<<10)
	s.pending = map[uint64][]sdk.Value{}
	s.queued = map[uint64]bool{}
	return nil
}

// NextTuple emits replays first, then new lines, up to the batch size;
// after the last line, the end-of-event-time punctuation, once it is the
// only thing left, and then end of input.
func (s *JSONLinesSpout) NextTuple() {
	n := 0
	for n < s.batch && len(s.retry) > 0 {
		id := s.retry[0]
		s.retry = s.retry[1:]
		delete(s.queued, id)
		if id == punctMsgID {
			s.emitPunct()
			n++
			continue
		}
		if vals, ok := s.pending[id]; ok {
			s.out.Emit(id, vals...)
			n++
		}
	}
	for n < s.batch && !s.eof {
		id, vals, ok := s.readEvent()
		if !ok {
			continue
		}
		s.pending[id] = vals
		s.out.Emit(id, vals...)
		n++
	}
	if s.eof && !s.punctOut && !s.punctDone {
		s.emitPunct()
	}
	if s.punctDone && !s.ended {
		s.ended = true
		s.out.End()
	}
}

func (s *JSONLinesSpout) emitPunct() {
	s.punctOut = true
	s.out.EmitTo(window.DefaultPunctuationStream, punctMsgID, sdk.Int(window.EndOfEventTime))
}

// readEvent reads this task's next line and parses it; ok is false for a
// skipped line (bad or empty) or at the end of the input.
func (s *JSONLinesSpout) readEvent() (id uint64, vals []sdk.Value, ok bool) {
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil && (err != io.EOF || len(line) == 0) {
			if err != io.EOF {
				s.report(fmt.Errorf("%s: read %s after line %d: %w", ClassSpout, s.path, s.lineNo, err))
			}
			s.finishInput()
			return 0, nil, false
		}
		s.lineNo++
		if (s.lineNo-1)%s.tasks != s.task {
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			return 0, nil, false
		}
		vals, perr := ParseEvent(line)
		if perr != nil {
			s.bad++
			if s.bad <= maxReported {
				s.report(fmt.Errorf("%s:%d: %w (line skipped)", s.path, s.lineNo, perr))
			}
			return 0, nil, false
		}
		return s.lineNo, vals, true
	}
}

// report records a task error; the runtime logs it and lists it in the
// run's summary and in gale status.
func (s *JSONLinesSpout) report(err error) { s.out.ReportError(err) }

func (s *JSONLinesSpout) finishInput() {
	s.eof = true
	if s.bad > maxReported {
		s.report(fmt.Errorf("%s: %d malformed lines skipped in all, the first %d reported", s.path, s.bad, maxReported))
	}
	s.closeInput()
}

// Errors of ParseEvent, for errors.Is.
var (
	ErrNotJSON      = errors.New("not a JSON object")
	ErrMissingField = errors.New("missing field")
	ErrBadField     = errors.New("bad field")
)

// ParseEvent parses one input line into the spout's values (visitor, ts,
// type, page, x, y; absent optional fields are null).
func ParseEvent(line []byte) ([]sdk.Value, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || m == nil {
		msg := "null"
		if err != nil {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%w: %s", ErrNotJSON, msg)
	}
	str := func(name string, required bool) (sdk.Value, error) {
		raw, ok := m[name]
		if !ok {
			if required {
				return sdk.Value{}, fmt.Errorf("%w %q", ErrMissingField, name)
			}
			return sdk.Null(), nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return sdk.Value{}, fmt.Errorf("%w %q: want a string, got %s", ErrBadField, name, raw)
		}
		return sdk.String(v), nil
	}
	num := func(name string) (sdk.Value, error) {
		raw, ok := m[name]
		if !ok {
			return sdk.Null(), nil
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || len(raw) == 0 || raw[0] == '"' {
			return sdk.Value{}, fmt.Errorf("%w %q: want a number, got %s", ErrBadField, name, raw)
		}
		return sdk.Double(f), nil
	}
	visitor, err := str("visitor", true)
	if err != nil {
		return nil, err
	}
	if v := visitor.Str(); v == "" || strings.ContainsAny(v, "\t\n\r") {
		return nil, fmt.Errorf("%w \"visitor\": want a non-empty string without tab or newline, got %q", ErrBadField, v)
	}
	raw, ok := m["ts"]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrMissingField, "ts")
	}
	ts, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w \"ts\": want integer epoch milliseconds, got %s", ErrBadField, raw)
	}
	typ, err := str("type", true)
	if err != nil {
		return nil, err
	}
	page, err := str("page", false)
	if err != nil {
		return nil, err
	}
	x, err := num("x")
	if err != nil {
		return nil, err
	}
	y, err := num("y")
	if err != nil {
		return nil, err
	}
	return []sdk.Value{visitor, sdk.Int(ts), typ, page, x, y}, nil
}

// Ack forgets a line whose tree completed.
func (s *JSONLinesSpout) Ack(id uint64) {
	if id == punctMsgID {
		s.punctDone = true
		return
	}
	delete(s.pending, id)
}

// Fail queues a line (or the punctuation) to be emitted again.
func (s *JSONLinesSpout) Fail(id uint64) {
	if id != punctMsgID {
		if _, ok := s.pending[id]; !ok {
			return
		}
	}
	if !s.queued[id] {
		s.queued[id] = true
		s.retry = append(s.retry, id)
	}
}

// Close closes the input if it is open.
func (s *JSONLinesSpout) Close() error { return s.closeInput() }

func (s *JSONLinesSpout) closeInput() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
