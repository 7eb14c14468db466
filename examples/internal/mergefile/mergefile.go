// Package mergefile lets the tasks of one component merge their sorted
// results into one output file, whatever process or node each runs in on
// a shared file system, serialised by an exclusive flock on
// "<output>.lock":
//
//  1. Read the sidecar "<output>.gale-merge": line 1 is the TopologyID, line
//     2 how many tasks have merged so far. A sidecar of another topology
//     run (or none) means the output file is stale: start empty.
//  2. Merge the current output with this task's results (the caller's
//     Write does that, streaming) into a temp file in the same folder;
//     fsync it and rename it over the output, so readers never see a
//     half-written file.
//  3. Update the sidecar (also by rename). The last task (merged == number
//     of tasks) removes the sidecar and the lock file instead.
//
// Used by examples/wordcount and examples/sessions.
package mergefile

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
	LockSuffix    = ".lock"
	SidecarSuffix = ".gale-merge"
)

// ErrCorruptSidecar means the merge state of the current run is
// unreadable or says that every task merged already.
var ErrCorruptSidecar = errors.New("corrupt merge state")

// Job is one task's contribution to the shared output file.
type Job struct {
	Path       string
	TopologyID string
	Tasks      int // tasks that write Path
	// Write writes the new output: the merge of prev (the output of the
	// tasks merged before in this run; nil for the first) with this
	// task's results.
	Write func(prev io.Reader, w *bufio.Writer) error
}

// Merge merges job into the output file under an exclusive lock.
func Merge(ctx context.Context, job Job) (err error) {
	lockPath := job.Path + LockSuffix
	unlock, err := Lock(ctx, lockPath)
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("unlock %s: %w", lockPath, uerr)
		}
	}()

	sidecar := job.Path + SidecarSuffix
	merged, err := readSidecar(sidecar, job.TopologyID)
	if err != nil {
		return err
	}
	if merged >= job.Tasks {
		return fmt.Errorf("read merge state %s: %d of %d tasks merged already: %w", sidecar, merged, job.Tasks, ErrCorruptSidecar)
	}

	// Tasks that merged before us in this run left their results in the
	// output; otherwise whatever is there is stale and gets overwritten.
	var prev io.Reader
	if merged > 0 {
		f, err := os.Open(job.Path)
		if err != nil {
			return fmt.Errorf("read output of the %d tasks merged so far: %w", merged, err)
		}
		defer f.Close()
		prev = f
	}
	if err := WriteAtomic(job.Path, func(w *bufio.Writer) error { return job.Write(prev, w) }); err != nil {
		return err
	}

	merged++
	if merged < job.Tasks {
		return writeSidecar(sidecar, job.TopologyID, merged)
	}
	// The last task cleans up, still holding the lock: a task of a later
	// run that opened the lock file meanwhile notices that it was removed
	// (Lock) and locks a fresh one.
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
	err := WriteAtomic(path, func(w *bufio.Writer) error {
		_, err := w.WriteString(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("update merge state: %w", err)
	}
	return nil
}

// WriteAtomic replaces path with what fill writes: a temp file in the same
// folder (so the rename cannot cross file systems), fsynced, renamed over
// path, then the folder fsynced, so that a crash leaves either the old or
// the new file, never a torn one.
func WriteAtomic(path string, fill func(*bufio.Writer) error) (err error) {
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

// Lock takes an exclusive lock on the file at path, creating it,
// waiting until ctx is done. The returned function releases the lock.
func Lock(ctx context.Context, path string) (unlock func() error, err error) {
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
