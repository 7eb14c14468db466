package external

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gale-stream/gale/sdk/attach"
)

// Environment variables a managed process is started with (sdk/ATTACH.md):
// the ones the Go SDK reads.
const (
	EnvAttachAddr = attach.EnvAttachAddr
	EnvTopology   = attach.EnvTopology
	EnvComponent  = attach.EnvComponent
	EnvTaskID     = attach.EnvTaskID
	EnvToken      = attach.EnvToken
)

// Restart backoff of managed processes.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = 10 * time.Second
	healthyAfter = 30 * time.Second // a run this long resets the backoff
	stopGrace    = 5 * time.Second  // to exit after its stream ended cleanly
	restartGrace = time.Second      // to exit after its stream ended in error, before a restart kills it
	termGrace    = 2 * time.Second  // to exit after SIGTERM
)

// Command is how to start a managed process.
type Command struct {
	// Argv is the program and its arguments.
	Argv []string
	// Dir is the working directory; empty means the node's.
	Dir string
	// Env adds variables to the node's environment.
	Env map[string]string
}

// Supervisor keeps one managed process running for a task: it starts it
// with the task's identity in its environment, logs its output, and starts
// it again, with backoff, whenever it exits while the task runs.
type Supervisor struct {
	Cmd Command
	// Env is the task's identity (GALE_ATTACH_ADDR, GALE_TOPOLOGY, ...);
	// the supervisor adds a fresh GALE_TOKEN at each start.
	Env map[string]string
	// Slot is the task's hub slot; it gets each process's token.
	Slot *Slot
	// Log receives the process's output, one record per line.
	Log *slog.Logger
	// OnStart is called when a process has started; OnExit when a
	// process exits while the task runs.
	OnStart func()
	OnExit  func(err error)
	// Stdio, when set, replaces the output logging: the caller talks to the
	// process over its standard input and output (Storm multilang). Its
	// stderr is still logged. It returns why the node ended the session,
	// nil when the process did (the process's exit report says it).
	Stdio func(ctx context.Context, stdin io.WriteCloser, stdout io.Reader) error

	restart chan struct{}
}

// AttachHint says what a program must do to attach, by its protocol: for
// messages about a process that did not.
func (s *Supervisor) AttachHint() string { return attachHint(s.Stdio != nil) }

// attachHint is AttachHint for a Storm multilang process (stdio) or an
// Attach one.
func attachHint(stdio bool) string {
	if stdio {
		return "a Storm multilang program must answer the handshake on its standard input and output (storm.py's or storm.js's run)"
	}
	return "a component's program must call its SDK's run (gale.run in Python, run in TypeScript, attach.Run in Go)"
}

// NewSupervisor returns a supervisor ready to Run.
func NewSupervisor(s Supervisor) *Supervisor {
	s.restart = make(chan struct{}, 1)
	return &s
}

// Restart kills the current process (it stopped heartbeating, say); the
// supervisor then starts a new one after its backoff.
func (s *Supervisor) Restart() {
	select {
	case s.restart <- struct{}{}:
	default:
	}
}

// Run (of a supervisor made by NewSupervisor) runs processes until ctx is cancelled, then stops the last one: it
// waits stopGrace for it to exit on its own (its stream was ended), then
// sends SIGTERM and, termGrace later, SIGKILL.
func (s *Supervisor) Run(ctx context.Context) {
	backoff := backoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if s.OnExit != nil {
			s.OnExit(err)
		}
		if time.Since(started) > healthyAfter {
			backoff = backoffMin
		}
		s.Log.Warn("external process will be restarted", "after", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// runOnce starts one process and waits for it to end. It returns why the
// process ended.
func (s *Supervisor) runOnce(ctx context.Context) error {
	if len(s.Cmd.Argv) == 0 {
		return errors.New("no command to run")
	}
	// A restart asked for the previous process (its session ended while it
	// was already exiting) must not kill this one.
	select {
	case <-s.restart:
	default:
	}
	token := newToken()
	if s.Slot != nil {
		s.Slot.SetToken(token)
	}
	if d := s.Cmd.Dir; d != "" {
		// exec reports a missing working directory as the program's
		// ("fork/exec /usr/bin/python3: no such file or directory").
		if fi, err := os.Stat(d); err != nil {
			return fmt.Errorf("starting %s: its working directory: %w", s.Cmd.Argv[0], err)
		} else if !fi.IsDir() {
			return fmt.Errorf("starting %s: its working directory %s is not a directory", s.Cmd.Argv[0], d)
		}
	}
	cmd := exec.Command(s.Cmd.Argv[0], s.Cmd.Argv[1:]...)
	cmd.Dir = s.Cmd.Dir
	cmd.Env = s.environ(token)
	// Its own process group, so that stopping it stops its children; and,
	// on Linux, killed with the node, even by kill -9 (procgroup_*.go).
	cmd.SysProcAttr = groupAttr()
	tail := &lastLines{max: 5}
	var outTail *lastLines // stdout's, when it is not the protocol
	var wg sync.WaitGroup
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("starting %s: %w", s.Cmd.Argv[0], err)
	}
	var stdout io.ReadCloser
	var stdin io.WriteCloser
	if s.Stdio != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return fmt.Errorf("starting %s: %w", s.Cmd.Argv[0], err)
		}
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		return fmt.Errorf("starting %s: %w", s.Cmd.Argv[0], err)
	}
	claims := s.Slot.Claims()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", strings.Join(s.Cmd.Argv, " "), err)
	}
	// describe says why the process ended: its exit status, whether it
	// attached at all, and its last output.
	var sessionErr error // why the node ended a Stdio session; read after wg.Wait
	describe := func(err error) error {
		return describeExit(err, s.Slot.Claims() != claims, s.Stdio != nil, sessionErr, tail, outTail)
	}
	log := s.Log.With("pid", cmd.Process.Pid)
	log.Info("external process started", "argv", s.Cmd.Argv)
	if s.OnStart != nil {
		s.OnStart()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pipeLines(stderr, log, slog.LevelWarn, tail)
	}()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if s.Stdio != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sessionErr = s.Stdio(runCtx, stdin, stdout)
			// The protocol is over: drain what is left so the process
			// does not block writing.
			_, _ = io.Copy(io.Discard, stdout)
		}()
	} else {
		outTail = &lastLines{max: 5}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pipeLines(stdout, log, slog.LevelInfo, outTail)
		}()
	}
	exited := make(chan error, 1)
	go func() {
		wg.Wait() // pipes first: Wait closes them
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		return describe(err)
	case <-s.restart:
		// Its stream ended. A process that gave up (an error it sent, then
		// a half-close) exits on its own right after: let it, so that its
		// own exit status is what gets reported, not our SIGKILL.
		select {
		case err := <-exited:
			return describe(err)
		case <-time.After(restartGrace):
		}
		log.Warn("killing external process to restart it: it did not exit after its stream ended", "grace", restartGrace)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		// Its own status would say "signal: killed", which is this kill:
		// why its session ended was reported before.
		return fmt.Errorf("external process killed by the node to replace it: it had not exited %v after its session ended", restartGrace)
	case <-ctx.Done():
	}
	// The task stopped: its stream was ended, so the process should exit.
	// One that never attached has no stream to end: it gets SIGTERM now.
	if s.Slot.Claims() == claims {
		log.Warn("stopping external process with SIGTERM: it never attached")
	} else {
		select {
		case <-exited:
			return nil
		case <-time.After(stopGrace):
		}
		log.Warn("external process did not exit after its stream ended; sending SIGTERM")
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(termGrace):
	}
	log.Warn("external process ignored SIGTERM; killing it")
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return nil
}

func (s *Supervisor) environ(token string) []string {
	env := os.Environ()
	keys := make([]string, 0, len(s.Cmd.Env))
	for k := range s.Cmd.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+s.Cmd.Env[k])
	}
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	return append(env, EnvToken+"="+token)
}

// pipeLines logs a process's output line by line, at most logBurst lines
// at once and logRate a second after that: a process that prints a
// traceback for every failed input of a poison tuple replayed forever would
// otherwise fill the node's log (hundreds of thousands of lines a minute).
// Dropped lines are counted in a line of their own once output resumes
// within the limit, and the tail kept for error reports sees every line.
func (s *Supervisor) pipeLines(r io.Reader, log *slog.Logger, level slog.Level, tail *lastLines) {
	limit := lineLimiter{tokens: logBurst, last: time.Now()}
	readLines(r, maxLogLine, func(line string) {
		if tail != nil {
			tail.add(line)
		}
		ok, dropped := limit.allow(time.Now())
		if dropped > 0 {
			log.Warn("external process output was rate-limited", "stream", streamName(level), "dropped_lines", dropped, "limit_per_second", logRate)
		}
		if ok {
			log.Log(context.Background(), level, line, "stream", streamName(level))
		}
	})
	if limit.dropped > 0 {
		log.Warn("external process output was rate-limited", "stream", streamName(level), "dropped_lines", limit.dropped, "limit_per_second", logRate)
	}
}

// readLines calls f with each line of r (without its "\n" or "\r\n"),
// the last one also without a newline, until r ends or fails. A line
// longer than max is cut to its first max bytes, with a note of how many
// more it had: the rest is read and dropped, so r is always read to its
// end (bufio.Scanner stops at such a line, and a process whose output is
// no longer read blocks in its next write to it).
func readLines(r io.Reader, max int, f func(line string)) {
	br := bufio.NewReaderSize(r, max)
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line := string(chunk)
			cut := 0
			for errors.Is(err, bufio.ErrBufferFull) {
				chunk, err = br.ReadSlice('\n')
				cut += len(chunk)
			}
			if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
				cut--
				if len(chunk) > 1 && chunk[len(chunk)-2] == '\r' {
					cut--
				}
			}
			f(fmt.Sprintf("%s ... (%d more bytes of this line not logged)", line, cut))
		} else if len(chunk) > 0 {
			line := chunk
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
			}
			f(string(line))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// maxLogLine is how much of one output line the node logs.
const maxLogLine = 64 << 10

const (
	logRate  = 200  // output lines a second a process may log, after the burst
	logBurst = 2000 // output lines a process may log at once
)

// lineLimiter is a token bucket over output lines.
type lineLimiter struct {
	tokens     float64
	last       time.Time
	dropped    int       // lines dropped since the last report
	reportedAt time.Time // when dropped lines were last reported
}

// allow says whether a line may be logged now, and how many lines were
// dropped before it when that is to be reported now: with the line that
// resumes logging, at most once a second.
func (l *lineLimiter) allow(now time.Time) (ok bool, reportDropped int) {
	l.tokens = min(logBurst, l.tokens+now.Sub(l.last).Seconds()*logRate)
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	if l.dropped > 0 && now.Sub(l.reportedAt) >= time.Second {
		reportDropped, l.dropped, l.reportedAt = l.dropped, 0, now
	}
	return true, reportDropped
}

func streamName(level slog.Level) string {
	if level == slog.LevelInfo {
		return "stdout"
	}
	return "stderr"
}

// describeExit says why a process ended: its exit status (err, from
// cmd.Wait), that it never attached when it did not (a program that
// exits 0 without attaching forgot to call the SDK's run, or decided not
// to start: say which it was, from its output), and its last lines of
// stderr, or of stdout when it wrote nothing to stderr (outTail, nil when
// stdout is the protocol).
func describeExit(err error, attached, stdio bool, ended error, tail, outTail *lastLines) error {
	var msg string
	switch {
	case ended != nil && err == nil:
		// Storm scripts exit 0 once their stdin closes: the cause is
		// the node's, not the process's.
		msg = "external process exited with status 0 after the node closed its stdin: " + ended.Error()
	case ended != nil:
		msg = "external process " + err.Error() + " after the node closed its stdin: " + ended.Error()
	case err == nil && attached:
		msg = "external process exited with status 0 while its task was running"
	case err == nil:
		msg = "external process exited with status 0 without attaching to the node: " + attachHint(stdio) + " and keep running"
	case attached:
		msg = "external process " + err.Error() // "exit status 1", "signal: killed"
	default:
		msg = "external process " + err.Error() + " before it attached"
	}
	out := tail.String()
	if out != "" {
		msg += "; its last output: " + out
	} else if out = outTail.String(); out != "" {
		msg += "; its last output (stdout): " + out
	}
	if !attached && !stdio && readsLikeStorm(out) {
		// The most common mistake in bringing Storm components over.
		msg += " (this reads like a Storm multilang program: give its component protocol: storm-multilang)"
	}
	return errors.New(msg)
}

// readsLikeStorm tells output of a Storm multilang library that found no
// handshake on its standard input.
func readsLikeStorm(out string) bool {
	for _, s := range []string{"Read EOF from stdin", "storm.py", "storm.js", "pystorm", "streamparse"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// lastLines keeps the last few lines of a process's output for the error
// that reports its exit, and the last line that reads like an error's
// headline (errorHeadline), which runtimes print above a stack trace that
// can be longer than the tail: Node.js's "Error: Cannot find module" or
// Go's "panic: ..." would otherwise be lost behind frames and footers.
type lastLines struct {
	mu       sync.Mutex
	max      int
	lines    []string
	headline string
	since    int // lines added after the headline
}

// headlineReach is how many lines after it a headline still leads the
// output: a runtime's dying words are a headline, its stack and a
// footer; an error line further back (a handled error a bolt printed)
// says nothing about why the process ended.
const headlineReach = 200

func (l *lastLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	l.since++
	if errorHeadline.MatchString(s) {
		l.headline, l.since = s, 0
	} else if l.since > headlineReach {
		l.headline = ""
	}
	l.lines = append(l.lines, s)
	if len(l.lines) > l.max {
		l.lines = l.lines[1:]
	}
}

// String joins the lines kept, with the headline first when it is not
// among them. It is "" for a nil lastLines.
func (l *lastLines) String() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if l.headline != "" && !slices.Contains(lines, l.headline) {
		lines = append([]string{l.headline, "..."}, lines...)
	}
	return strings.Join(lines, " | ")
}

// errorHeadline matches the line that names an error in what common
// runtimes print when a program dies: "ValueError: ...", "Error: ...",
// "Error [ERR_MODULE_NOT_FOUND]: ...", "TypeError: ...",
// "java.lang.IllegalStateException: ...", "panic: ...", "fatal error: ...".
var errorHeadline = regexp.MustCompile(`^(?:panic: |fatal error: |(?:[A-Za-z_$][\w$.]*)?(?:Error|Exception)(?: \[[A-Z_]+\])?: )`)

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
