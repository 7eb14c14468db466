package wordcount

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Suffixes of the files that sit beside the output during a merge.
const (
	lockSuffix    = ".lock"
	sidecarSuffix = ".gale-merge"
)

// Errors of the merge, wrapped with the path they concern; test with
// errors.Is.
var (
	// ErrCorruptOutput means the output file of the current run cannot be
	// merged: a line is not word<TAB>count or lines are out of order.
	ErrCorruptOutput = errors.New("corrupt output file")
	// ErrCorruptSidecar means the merge state of the current run is
	// unreadable or says that every task merged already.
	ErrCorruptSidecar = errors.New("corrupt merge state")
	// errNotSorted details an ErrCorruptOutput whose lines are out of
	// order, which a streaming merge cannot repair.
	errNotSorted = errors.New("lines not sorted by word")
)

// mergeJob is one count task's contribution to the shared output file.
type mergeJob struct {
	path       string
	topologyID string
	tasks      int      // count tasks that write path
	words      []string // this task's words, sorted
	counts     []int64  // counts[i] is the total of words[i]
}

// mergeOutput merges job's totals into the output file under an exclusive
// lock, following the protocol in the package documentation.
func mergeOutput(ctx context.Context, job mergeJob) (err error) {
	lockPath := job.path + lockSuffix
	unlock, err := lockFile(ctx, lockPath)
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("unlock %s: %w", lockPath, uerr)
		}
	}()

	sidecar := job.path + sidecarSuffix
	merged, err := readSidecar(sidecar, job.topologyID)
	if err != nil {
		return err
	}
	if merged >= job.tasks {
		return fmt.Errorf("read merge state %s: %d of %d tasks merged already: %w", sidecar, merged, job.tasks, ErrCorruptSidecar)
	}

	// Tasks that merged before us in this run left their totals in the
	// output; otherwise whatever is there is stale and gets overwritten.
	var prev *os.File
	if merged > 0 {
		if prev, err = os.Open(job.path); err != nil {
			return fmt.Errorf("read output of the %d tasks merged so far: %w", merged, err)
		}
		defer prev.Close()
	}
	if err := writeMerged(job.path, prev, job.words, job.counts); err != nil {
		return err
	}

	merged++
	if merged < job.tasks {
		return writeSidecar(sidecar, job.topologyID, merged)
	}
	// The last task cleans up, still holding the lock: a task of a later
	// run that opened the lock file meanwhile notices that it was removed
	// (lockFile) and locks a fresh one.
	if err := os.Remove(sidecar); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove merge state: %w", err)
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove lock file: %w", err)
	}
	return nil
}

// readSidecar returns how many tasks of topologyID merged so far: 0 when
// there is no sidecar or it belongs to another run.
func readSidecar(path, topologyID string) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read merge state: %w", err)
	}
	id, rest, _ := strings.Cut(string(data), "\n")
	if id != topologyID {
		return 0, nil // an earlier run's leftovers: its output is stale
	}
	countLine, _, _ := strings.Cut(rest, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(countLine))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("read merge state %s: line 2 %q is not a task count: %w", path, countLine, ErrCorruptSidecar)
	}
	return n, nil
}

// writeSidecar records that merged tasks of topologyID are in the output.
func writeSidecar(path, topologyID string, merged int) error {
	data := topologyID + "\n" + strconv.Itoa(merged) + "\n"
	err := writeAtomic(path, func(w *bufio.Writer) error {
		_, err := w.WriteString(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("update merge state: %w", err)
	}
	return nil
}

// writeMerged replaces the file at path with the merge of prev (sorted
// word<TAB>count lines, or nil) and this task's sorted words.
func writeMerged(path string, prev *os.File, words []string, counts []int64) error {
	return writeAtomic(path, func(w *bufio.Writer) error {
		out := lineWriter{w: w}
		var in *entryReader
		if prev != nil {
			in = &entryReader{r: bufio.NewReaderSize(prev, 64<<10), name: path}
		}
		e, ok, err := in.next()
		if err != nil {
			return err
		}
		i := 0
		for ok || i < len(words) {
			if ok && (i == len(words) || e.word <= words[i]) {
				if err := out.add(e.word, e.count); err != nil {
					return err
				}
				if e, ok, err = in.next(); err != nil {
					return err
				}
			} else {
				if err := out.add(words[i], counts[i]); err != nil {
					return err
				}
				i++
			}
		}
		return out.flush()
	})
}

// entry is one line of the output file.
type entry struct {
	word  string
	count int64
}

// entryReader streams the entries of a sorted output file.
type entryReader struct {
	r    *bufio.Reader
	name string
	line int
	prev string
}

// next returns the next entry, or ok == false at the end. A nil reader is
// an empty file.
func (er *entryReader) next() (e entry, ok bool, err error) {
	if er == nil {
		return entry{}, false, nil
	}
	text, err := er.r.ReadString('\n')
	if err != nil && (err != io.EOF || text == "") {
		if err == io.EOF {
			return entry{}, false, nil
		}
		return entry{}, false, fmt.Errorf("read %s: %w", er.name, err)
	}
	er.line++
	text = strings.TrimSuffix(text, "\n")
	tab := strings.LastIndexByte(text, '\t')
	if tab <= 0 {
		return entry{}, false, fmt.Errorf("read %s line %d: %q is not word<TAB>count: %w", er.name, er.line, text, ErrCorruptOutput)
	}
	e.word = text[:tab]
	if e.count, err = strconv.ParseInt(text[tab+1:], 10, 64); err != nil {
		return entry{}, false, fmt.Errorf("read %s line %d: bad count %q: %w", er.name, er.line, text[tab+1:], ErrCorruptOutput)
	}
	if er.line > 1 && e.word < er.prev {
		return entry{}, false, fmt.Errorf("read %s line %d: %q after %q: %w: %w", er.name, er.line, e.word, er.prev, errNotSorted, ErrCorruptOutput)
	}
	er.prev = e.word
	return e, true, nil
}

// lineWriter writes sorted word<TAB>count lines, summing the counts of
// equal consecutive words: the key sets of count tasks are disjoint by
// design, but a word that shows up twice is still counted once, in full.
type lineWriter struct {
	w       *bufio.Writer
	word    string
	count   int64
	have    bool
	scratch []byte
}

func (lw *lineWriter) add(word string, count int64) error {
	if lw.have && word == lw.word {
		lw.count += count
		return nil
	}
	if err := lw.flush(); err != nil {
		return err
	}
	lw.word, lw.count, lw.have = word, count, true
	return nil
}

func (lw *lineWriter) flush() error {
	if !lw.have {
		return nil
	}
	lw.have = false
	lw.scratch = append(lw.scratch[:0], lw.word...)
	lw.scratch = append(lw.scratch, '\t')
	lw.scratch = strconv.AppendInt(lw.scratch, lw.count, 10)
	lw.scratch = append(lw.scratch, '\n')
	_, err := lw.w.Write(lw.scratch)
	return err
}

// writeAtomic replaces path with what fill writes: a temp file in the same
// folder (so the rename cannot cross file systems), fsynced, renamed over
// path, then the folder fsynced, so that a crash leaves either the old or
// the new file, never a torn one.
func writeAtomic(path string, fill func(*bufio.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	if err := fill(w); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	// CreateTemp makes the file 0600; the output is an ordinary result file.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Errors are ignored on purpose:
// some file systems refuse to fsync a directory, and the rename itself has
// already succeeded, so the result is correct, just possibly not yet on disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// lockFile takes an exclusive lock on the file at path, creating it,
// waiting until ctx is done. The returned function releases the lock.
func lockFile(ctx context.Context, path string) (unlock func() error, err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := lockWait(ctx, f); err != nil {
			f.Close()
			return nil, err
		}
		// The previous holder may have removed the file after we opened it
		// (the last task of a run does): then we hold the lock of an orphan
		// inode while a newcomer could lock a new file at path. Only a lock
		// on the file that is at path now counts.
		held, err1 := f.Stat()
		cur, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, cur) {
			return func() error {
				uerr := unlockFile(f)
				if cerr := f.Close(); uerr == nil {
					uerr = cerr
				}
				return uerr
			}, nil
		}
		f.Close() // closing the descriptor releases the lock
		if err1 != nil {
			return nil, err1
		}
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, err2
		}
	}
}

// lockWait polls a non-blocking flock until it succeeds or ctx is done. A
// blocking flock could not be cancelled, and a task that is being stopped
// must not hang in Finish behind another process.
func lockWait(ctx context.Context, f *os.File) error {
	delay := 100 * time.Microsecond
	for {
		busy, err := tryLockFile(f)
		if err != nil || !busy {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}
