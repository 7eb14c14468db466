package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// runqueueWait is the time this process's threads have spent runnable but
// waiting for a core, summed over its live threads (the second field of
// /proc/self/task/*/schedstat). Over a window, its growth divided by the
// window is how many threads waited on average: near 0 on a machine with a
// core to spare for each, unless the kernel leaves woken threads queued
// behind busy ones (see rtsched).
func runqueueWait() (time.Duration, bool) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, false
	}
	var sum time.Duration
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread has exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, false
		}
		w, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += time.Duration(w)
	}
	return sum, true
}
