package external

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Storm's multilang handshake names a directory where the script writes a
// file named by its pid. A session removes its directory when it ends, but
// a node killed with SIGKILL leaves them in the temporary directory (a few
// per kill). So each directory's name carries the pid of the node process
// that made it, and the first session of a process removes the directories
// of node processes that no longer exist.

// pidDirPrefix starts the name of every multilang pid directory.
const pidDirPrefix = "gale-multilang-"

var sweepPidDirsOnce sync.Once

// makePidDir makes a session's pid directory in the temporary directory,
// removing first those left by dead node processes (once per process).
func makePidDir() (string, error) {
	tmp := os.TempDir()
	sweepPidDirsOnce.Do(func() { sweepPidDirs(tmp, processAlive) })
	dir, err := os.MkdirTemp(tmp, fmt.Sprintf("%s%d-", pidDirPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("making the script's pid directory: %w", err)
	}
	return dir, nil
}

// sweepPidDirs removes the pid directories in tmp whose node process is not
// alive. Directories of another naming (older nodes) are left alone.
func sweepPidDirs(tmp string, alive func(pid int) bool) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), pidDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(tmp, e.Name()))
	}
}

// processAlive reports whether a process with pid exists (one of another
// user counts as alive: its directories are not ours to judge).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
