// Package procgov runs a process on fewer Go processors (GOMAXPROCS) while
// its load fits in fewer cores, and on all of them again as soon as it
// does not.
//
// A lightly loaded Gale process hands batches from task to task many
// thousand times a second. With one processor such a hand-off is a switch
// between goroutines on one thread; with two or more, the runtime also
// wakes an idle thread on another core to look for work (a futex call and,
// in a virtual machine, an interrupt to the other vCPU), which usually
// finds none because the first thread took it. In the in-process word
// count at a tenth of its maximum rate that doubled the CPU the process
// used (0.53 cores on two processors against 0.36-0.42 on one; with the
// real-time policy 0.69-0.99 against 0.39, README "Fewer processors when
// lightly loaded").
//
// Run reads the process's CPU time every 50 ms (100 ms while it idles).
// When the process used less than half of its processors' worth of CPU
// over half a second, it tries half as many processors, rounded up (a
// probe). When the processors it runs on are busy (85% of them or more
// over two samples in a row), it doubles them, up to all. A probe that
// ends within 3 s while the use then stays as low failed: the load, or a
// burst of it, did not fit, and the next probe of a like load waits 2 s,
// then 4 s after the next failure, and so on up to about a minute. A
// probe that ended because the load grew does not double that; one that
// held for 3 s resets it. The wait holds back a load like the one that
// failed only: a window whose mean use is 1.5 times that of the failed
// probe's window, or a 1.5th of it, may be probed at once, and
// LoadChanged (a topology or task starting or ending) forgets failures.
// After 10 s on fewer processors it takes all of them for a window:
// CPU time shows what the process got, so a thread that could not get
// 85% of a core (a busy host, a CPU quota) would never look saturated.
//
// "All of them" is the runtime's default: Run gives processors back with
// runtime.SetDefaultGOMAXPROCS, which keeps following the machine's CPUs
// and the container's CPU limit. Run does nothing when the user set
// GOMAXPROCS, nor on a single processor, and gives the default back when
// it returns.
package procgov
