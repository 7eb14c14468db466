package bench

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// schedTimes returns the time the threads of process proc ("self" or a
// pid) have spent running and runnable but waiting for a core, summed over
// its live threads (the first two fields of /proc/PROC/task/*/schedstat).
// Over a window, the growth of the wait divided by the window is how many
// threads waited on average: near 0 on a machine with a core to spare for
// each, unless the kernel leaves woken threads queued behind busy ones
// (see rtsched). Threads that exit during a window drop out of the sums.
func schedTimes(proc string) (run, wait time.Duration, ok bool) {
	dir := "/proc/" + proc + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, false
	}
	read := 0
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // the thread has exited
		}
		if err != nil {
			return 0, 0, false // no schedstat here, or not ours to read
		}
		read++
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, 0, false
		}
		r, err1 := strconv.ParseInt(f[0], 10, 64)
		w, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		run += time.Duration(r)
		wait += time.Duration(w)
	}
	return run, wait, read > 0
}

// runqueueWait is schedTimes' wait for this process.
func runqueueWait() (time.Duration, bool) {
	_, w, ok := schedTimes("self")
	return w, ok
}
