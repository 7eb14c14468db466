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
// over half a second, it tries half as many processors (a probe). When
// the processors it runs on are busy (85% of them or more over a sample),
// it goes back to all of them at once. A probe that the load did not fit
// in (it ended within half a second) is not tried again for 2 s, then 4 s,
// and so on up to about a minute; one that held for 3 s resets that.
//
// "All of them" is the runtime's default: Run gives processors back with
// runtime.SetDefaultGOMAXPROCS, which keeps following the machine's CPUs
// and the container's CPU limit. Run does nothing when the user set
// GOMAXPROCS, nor on a single processor, and gives the default back when
// it returns.
package procgov
