package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gale-stream/gale/sdk"
)

// SinkConfig is the configuration of a FileSink task.
type SinkConfig struct {
	// Dir is the directory of the sink files, created if missing. Key
	// filesink.dir, required.
	Dir string
	// Sync makes the sink fsync every line before it acks the input. Key
	// filesink.sync, default false: a line is then written to the file
	// (the kernel's page cache, which survives the process being killed)
	// but not necessarily to disk (which only matters if the machine
	// dies).
	Sync bool
	// Field is the name of the integer input field written. Key
	// filesink.field, default "id" (FieldID); another name lets the sink
	// record other sources, such as the ts of the HTTP ingest's events.
	Field string
}

// DefaultSinkConfig returns the defaults: no directory (it is required),
// no fsync.
func DefaultSinkConfig() SinkConfig { return SinkConfig{Field: FieldID} }

// Validate reports the first setting that is missing or wrong, by its key.
func (c SinkConfig) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("config %s: required: the directory the sink files are written to", KeySinkDir)
	}
	if strings.TrimSpace(c.Field) == "" {
		return fmt.Errorf("config %s: must name an input field", KeySinkField)
	}
	return nil
}

// SinkConfigFrom reads a SinkConfig from a task's config, starting from
// DefaultSinkConfig, and validates it.
func SinkConfigFrom(conf sdk.Config) (SinkConfig, error) {
	c := DefaultSinkConfig()
	c.Dir = conf.String(KeySinkDir, c.Dir)
	c.Field = conf.String(KeySinkField, c.Field)
	var err error
	if c.Sync, err = conf.Bool(KeySinkSync, c.Sync); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// SinkFile returns the path of the file a FileSink task of global id
// taskID writes in dir.
func SinkFile(dir string, taskID int32) string {
	return filepath.Join(dir, strconv.FormatInt(int64(taskID), 10)+".txt")
}

// FileSink appends each input's id as a line "<id>\n" to its task's file
// and acks the input only once the line is written (and fsynced, with
// filesink.sync). See the package documentation for the full contract.
// Driven from one goroutine, like every bolt.
type FileSink struct {
	cfg  SinkConfig
	out  *sdk.BoltCollector
	log  *slog.Logger
	path string
	f    *os.File
	// size is the length of the whole lines in the file: where it is cut
	// back to after a partial write.
	size int64
	// torn is set when a partial write could not be cut off yet: no line
	// is appended until it is, or it would glue onto the fragment.
	torn bool
	buf  []byte
	ids  fieldIndex
}

// NewFileSink returns a bolt to be prepared by Prepare.
func NewFileSink() *FileSink { return &FileSink{} }

// DeclareOutputFields declares nothing: the sink emits nothing.
func (s *FileSink) DeclareOutputFields(*sdk.OutputDeclarer) {}

// Prepare reads the configuration, creates the directory if needed and
// opens the task's file for appending. A missing filesink.dir, a directory
// that cannot be created or a file that cannot be opened fails here.
func (s *FileSink) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	cfg, err := SinkConfigFrom(tc.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", ClassFileSink, err)
	}
	s.cfg, s.out = cfg, out
	s.ids = fieldIndex{name: cfg.Field}
	s.log = tc.Log
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("%s: create %s %q: %w", ClassFileSink, KeySinkDir, cfg.Dir, err)
	}
	s.path = SinkFile(cfg.Dir, tc.TaskID)
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: open sink file %q (%s): %w", ClassFileSink, s.path, KeySinkDir, unwrapPath(err))
	}
	size, cut, err := repairTail(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: sink file %q: %w", ClassFileSink, s.path, err)
	}
	if cut > 0 {
		s.log.Warn("sink file ended in a partial line (a crash mid-write); cut it off",
			"file", s.path, "bytes", cut)
	}
	if cfg.Sync {
		// Make the file itself durable, not only its lines.
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("%s: fsync sink file %q: %w", ClassFileSink, s.path, unwrapPath(err))
		}
		if err := syncDir(cfg.Dir); err != nil {
			s.log.Warn("cannot fsync the sink directory", "dir", cfg.Dir, "err", err)
		}
	}
	s.f, s.size, s.torn = f, size, false
	s.log.Debug("file sink open", "file", s.path, "bytes", size, "sync", cfg.Sync)
	return nil
}

// Execute writes t's id to the file, then acks t. A failed write fails t,
// so that its id replays, and is reported. Ticks are acked; an input whose
// "id" is missing or not an integer is reported and acked, since replaying
// it could not help.
func (s *FileSink) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		s.out.Ack(t)
		return
	}
	v, ok := s.ids.get(t)
	if !ok || v.Kind() != sdk.KindInt {
		what := "has no " + strconv.Quote(s.cfg.Field) + " field"
		if ok {
			what = fmt.Sprintf("has a %s %q, want an int", v.Kind(), v.String())
		}
		s.out.ReportError(fmt.Errorf("%s: input from %s/%s %s; acked and dropped", ClassFileSink, t.Component(), t.Stream(), what))
		s.out.Ack(t)
		return
	}
	s.buf = strconv.AppendInt(s.buf[:0], v.Int(), 10)
	s.buf = append(s.buf, '\n')
	if err := s.write(s.buf); err != nil {
		s.out.Fail(t)
		s.out.ReportError(err)
		return
	}
	s.out.Ack(t)
}

// write appends one line with one Write call, and fsyncs it with
// filesink.sync. After a partial write it cuts the file back to its whole
// lines, now or before the next line.
func (s *FileSink) write(line []byte) error {
	if s.f == nil {
		return fmt.Errorf("%s: sink file %q is closed", ClassFileSink, s.path)
	}
	if s.torn {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("%s: cut partial line off %q: %w", ClassFileSink, s.path, unwrapPath(err))
		}
		s.torn = false
	}
	n, err := s.f.Write(line)
	if err != nil {
		if n > 0 {
			s.torn = s.f.Truncate(s.size) != nil
		}
		return fmt.Errorf("%s: write to %q: %w", ClassFileSink, s.path, unwrapPath(err))
	}
	s.size += int64(n)
	if s.cfg.Sync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("%s: fsync %q: %w", ClassFileSink, s.path, unwrapPath(err))
		}
	}
	return nil
}

// Cleanup closes the file. Safe to call twice.
func (s *FileSink) Cleanup() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("%s: close %q: %w", ClassFileSink, s.path, unwrapPath(err))
	}
	return nil
}

// repairTail makes sure f ends with a whole line: if its last byte is not
// "\n" (a write cut short by a crash), it truncates f after its last "\n"
// (or to empty). It returns the resulting size and how many bytes it cut.
func repairTail(f *os.File) (size, cut int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, unwrapPath(err)
	}
	size = fi.Size()
	if size == 0 {
		return 0, 0, nil
	}
	var chunk [4096]byte
	end := size
	for end > 0 {
		start := max(0, end-int64(len(chunk)))
		b := chunk[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return size, 0, fmt.Errorf("read its end: %w", unwrapPath(err))
		}
		if end == size && b[len(b)-1] == '\n' {
			return size, 0, nil // the common case: the file ends in a whole line
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				return truncateTo(f, size, start+int64(i)+1)
			}
		}
		end = start
	}
	return truncateTo(f, size, 0)
}

func truncateTo(f *os.File, size, to int64) (int64, int64, error) {
	if err := f.Truncate(to); err != nil {
		return size, 0, fmt.Errorf("cut off its partial last line: %w", unwrapPath(err))
	}
	return to, size - to, nil
}

// syncDir fsyncs a directory, so that a file created in it survives a
// crash of the machine.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// unwrapPath strips the *fs.PathError wrapper from err when our message
// names the path already, keeping errors.Is working on the cause.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
