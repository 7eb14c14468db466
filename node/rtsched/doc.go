// Package rtsched runs a process's threads under Linux's round-robin
// real-time scheduling policy (SCHED_RR), an opt-in for low latency on a
// busy machine.
//
// Why: on a 2-core VM whose Linux 6.18 is booted with sched_vcpu_pack (a
// vendor option that packs threads onto few virtual CPUs; README, "Threads
// woken behind busy ones"), a thread woken from a busy CPU was placed on
// that CPU in 415 wakes of 421, though the other was idle, and often
// started only at the next scheduler tick (up to 4 ms with HZ=250). Go
// wakes an idle thread whenever a goroutine becomes ready and a processor
// is free, so a pipeline of goroutines at half load meets this often:
// Gale's in-process benchmarks at half load had 0.4-0.56 threads on
// average waiting for a core while the process used 1.1-1.3 of two, and a
// goroutine woken across cores started after 0.12 ms at the median but 2.9
// ms at the 90th percentile. Real-time threads are placed by their own
// scheduling class, which takes an idle core at once, and run when woken;
// the same measurement gives 0.05 ms and 0.08 ms (README, "Real-time
// scheduling").
//
// The cost: woken threads that find no work still run, so a lightly
// loaded process spends more CPU (about 1.5 times at a tenth of the
// maximum rate); word count with acking lost up to half its maximum rate
// in some runs, for a reason not found (a shorter round-robin slice did
// not help); and real-time threads run before every normal process on
// the machine. The kernel keeps 5% of each second for normal processes
// (/proc/sys/kernel/sched_rt_runtime_us), so a runaway node slows the
// machine but cannot freeze it. Processes started by the process inherit
// the policy (fork keeps it), external components included.
//
// Enable needs CAP_SYS_NICE (root has it, outside containers that drop it) or an RLIMIT_RTPRIO of at least
// the priority (`ulimit -r`), and, in a container, a runtime that lets
// real-time threads run (cgroup v1 needs cpu.rt_runtime_us above 0).
package rtsched
