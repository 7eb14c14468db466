package sessions

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gale-stream/gale/examples/internal/mergefile"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/window"
)

// Session is one line of the output.
type Session struct {
	Visitor    string
	Start, End int64
	Events     int64
}

// Line formats the session as an output line, with its newline.
func (s Session) Line() string {
	return fmt.Sprintf("%s\t%d\t%d\t%d\n", s.Visitor, s.Start, s.End, s.Events)
}

func compareSessions(a, b Session) int {
	if c := strings.Compare(a.Visitor, b.Visitor); c != 0 {
		return c
	}
	return cmp.Compare(a.Start, b.Start)
}

// ErrCorruptOutput means the output of the current run cannot be merged.
var ErrCorruptOutput = errors.New("corrupt sessions output")

// sessionizer is the state behind one Sessionize task.
type sessionizer struct {
	ctx      context.Context
	tc       *sdk.TaskContext
	log      *slog.Logger
	output   string
	sessions []Session
	late     int64
}

// NewSessionize returns a Sessionize bolt: sdk/window session windows
// keyed by visitor on ts, configured from the sessions.* keys, that emits
// each session (visitor, start, end, events) and writes them all at the
// end of input.
func NewSessionize() *window.Bolt {
	s := &sessionizer{}
	cfg := window.DefaultConfig()
	cfg.Window = window.Session(DefaultGapMS * time.Millisecond)
	cfg.KeyField, cfg.TimeField = "visitor", "ts"
	cfg.OutputFields = []string{"visitor", "start", "end", "events"}
	cfg.LateFields = EventFields
	return window.New(cfg, s.session,
		window.WithPrepare(s.prepare),
		window.WithLate(func(string, int64, *sdk.Tuple) { s.late++ }),
		window.WithFinish(s.finish))
}

func (s *sessionizer) prepare(ctx context.Context, tc *sdk.TaskContext, cfg *window.Config) error {
	s.ctx, s.tc, s.log = ctx, tc, tc.Log
	if s.ctx == nil {
		s.ctx = context.Background()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.output = tc.Config.String(KeyOutput, "")
	ms := func(key string, def int64) (time.Duration, error) {
		v, err := tc.Config.Int(key, def)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", ClassSessionize, err)
		}
		if v < 0 {
			return 0, fmt.Errorf("%s: config %s: must be >= 0 ms, got %d", ClassSessionize, key, v)
		}
		return time.Duration(v) * time.Millisecond, nil
	}
	gap, err := ms(KeyGapMS, DefaultGapMS)
	if err != nil {
		return err
	}
	cfg.Window = window.Session(gap)
	if cfg.OutOfOrderness, err = ms(KeyOutOfOrderness, DefaultOutOfOrderness); err != nil {
		return err
	}
	if cfg.AllowedLateness, err = ms(KeyLateness, 0); err != nil {
		return err
	}
	switch c := tc.Config.String(KeyTimeoutCheck, "off"); c {
	case "error":
		cfg.TimeoutCheck = window.CheckError
	case "warn":
		cfg.TimeoutCheck = window.CheckWarn
	case "off":
		cfg.TimeoutCheck = window.CheckOff
	default:
		return fmt.Errorf("%s: config %s: want error, warn or off, got %q", ClassSessionize, KeyTimeoutCheck, c)
	}
	return nil
}

// session records a fired session and emits it, anchored to its events.
func (s *sessionizer) session(w window.Window, events []*sdk.Tuple, out *window.Output) {
	n := int64(len(events))
	s.sessions = append(s.sessions, Session{Visitor: w.Key, Start: w.Start, End: w.End, Events: n})
	out.Emit(sdk.String(w.Key), sdk.Int(w.Start), sdk.Int(w.End), sdk.Int(n))
}

// finish runs after every session fired: it merges this task's sessions
// into the output file.
func (s *sessionizer) finish() error {
	if s.late > 0 {
		s.log.Warn("late events are in no session", "late", s.late,
			"hint", "raise "+KeyOutOfOrderness+" or "+KeyLateness)
	}
	slices.SortFunc(s.sessions, compareSessions)
	if s.output == "" {
		s.log.Info("sessions (no "+KeyOutput+" set, nothing written)", "sessions", len(s.sessions))
		return nil
	}
	tasks := len(s.tc.ComponentTasks[s.tc.Component])
	if tasks == 0 {
		tasks = 1
	}
	err := mergefile.Merge(s.ctx, mergefile.Job{
		Path: s.output, TopologyID: s.tc.TopologyID, Tasks: tasks,
		Write: func(prev io.Reader, w *bufio.Writer) error { return mergeSessions(s.output, prev, s.sessions, w) },
	})
	if err != nil {
		return fmt.Errorf("%s: task %d: write sessions (%s): %w", ClassSessionize, s.tc.TaskID, KeyOutput, err)
	}
	s.log.Info("sessions merged", "output", s.output, "sessions", len(s.sessions))
	return nil
}

// mergeSessions writes the merge of prev (sorted output lines, or nil)
// and mine (sorted) to w.
func mergeSessions(path string, prev io.Reader, mine []Session, w *bufio.Writer) error {
	var sc *bufio.Scanner
	if prev != nil {
		sc = bufio.NewScanner(prev)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
	}
	lineNo := 0
	var last *Session
	next := func() (Session, bool, error) {
		if sc == nil || !sc.Scan() {
			if sc != nil && sc.Err() != nil {
				return Session{}, false, fmt.Errorf("read %s: %w", path, sc.Err())
			}
			return Session{}, false, nil
		}
		lineNo++
		s, err := parseLine(sc.Text())
		if err != nil {
			return Session{}, false, fmt.Errorf("read %s line %d: %w: %w", path, lineNo, err, ErrCorruptOutput)
		}
		if last != nil && compareSessions(*last, s) > 0 {
			return Session{}, false, fmt.Errorf("read %s line %d: not sorted by visitor, start: %w", path, lineNo, ErrCorruptOutput)
		}
		last = &s
		return s, true, nil
	}
	p, ok, err := next()
	if err != nil {
		return err
	}
	i := 0
	for ok || i < len(mine) {
		if ok && (i == len(mine) || compareSessions(p, mine[i]) <= 0) {
			if _, err := w.WriteString(p.Line()); err != nil {
				return err
			}
			if p, ok, err = next(); err != nil {
				return err
			}
			continue
		}
		if _, err := w.WriteString(mine[i].Line()); err != nil {
			return err
		}
		i++
	}
	return nil
}

// parseLine parses an output line (without its newline).
func parseLine(l string) (Session, error) {
	f := strings.Split(l, "\t")
	if len(f) != 4 || f[0] == "" {
		return Session{}, fmt.Errorf("%q is not visitor<TAB>start<TAB>end<TAB>events", l)
	}
	var n [3]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return Session{}, fmt.Errorf("%q: bad number %q", l, f[i+1])
		}
		n[i] = v
	}
	return Session{Visitor: f[0], Start: n[0], End: n[1], Events: n[2]}, nil
}
