// Package gcfloor keeps the Go collector from running more often than a
// node's heap warrants.
//
// A node's live heap is often small (tens of MiB) while it allocates fast
// (every frame it receives is a fresh buffer). With GOGC at its default of
// 100 the collector then runs several times a second, and on a busy
// machine each cycle's mark phase takes a core of two away for 10-20 ms:
// in the cluster benchmark, turning the collector off halved the p99
// complete latency at half load. Run raises GOGC while the live heap is
// small, so that the heap may grow to a floor (256 MiB by default) before
// the next cycle, and gives the default back as the live heap grows past
// half the floor: a large heap costs no more memory than with GOGC=100.
// The live heap here is what a collection scans (heap, goroutine stacks
// and globals), as the runtime counts it for its goal; and GOGC stays at
// most floor / 4 MiB x 100, since the runtime's minimum heap (4 MiB at
// GOGC=100) grows with GOGC too.
// It does nothing when the user set GOGC, and GOMEMLIMIT still bounds the
// heap as it always does. In a container with a memory limit (cgroup v2)
// the floor is at most a quarter of that limit, and with GOMEMLIMIT at
// most half of it, so a small container collects as it would without Run.
package gcfloor
