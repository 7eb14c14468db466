// Package rtsched runs a process's threads under Linux's round-robin
// real-time scheduling policy (SCHED_RR), an opt-in for low latency on a
// busy machine.
//
// Why: under the kernel's default policy (EEVDF since Linux 6.6), a thread
// woken while it still owes the CPU time (it ran more than its share just
// before it slept) is put back on the core it last ran on, even when that
// core is busy and another is idle, and it waits there until the busy
// thread's slice ends at a scheduler tick: up to 4 ms with HZ=250. Go wakes
// an idle thread whenever a goroutine becomes ready and a processor is
// free, so a pipeline of goroutines at half load meets this often: in
// Gale's in-process word count at 3 million tuples/s, 0.4 threads on
// average waited for a core while the process used 0.6 of two, and a
// goroutine woken across cores started after 0.1 ms at the median but
// 2.9 ms at the 90th percentile. Real-time threads are placed on an idle
// core at once and run when woken; the same measurement gives 0.05 ms and
// 0.08 ms.
//
// The cost: woken threads that find no work still run, so a lightly
// loaded process spends more CPU (up to 1.5x at a tenth of the maximum
// rate), and real-time threads run before every normal process on the
// machine. The kernel keeps 5% of each second for normal processes
// (/proc/sys/kernel/sched_rt_runtime_us), so a runaway node slows the
// machine but cannot freeze it. Processes started by the process inherit
// the policy (fork keeps it), external components included.
//
// Enable needs CAP_SYS_NICE (root has it) or an RLIMIT_RTPRIO of at least
// the priority (`ulimit -r`), and, in a container, a runtime that lets
// real-time threads run (cgroup v1 needs cpu.rt_runtime_us above 0).
package rtsched
