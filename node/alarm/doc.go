// Package alarm gives a task wake-ups at sub-millisecond deadlines.
//
// Go's timers fire up to a millisecond late whenever the process is
// otherwise idle: the runtime then sleeps in epoll_wait, whose timeout is
// in whole milliseconds, and rounds any shorter wait up to one
// (runtime/netpoll_epoll.go). A goroutine that sleeps 100 µs wakes about
// a millisecond late (BenchmarkMachineIdleTimer in node/bench). A task's
// linger bound (200 µs) and its idle-flush credit (50 µs) are such waits.
//
// A Clock keeps the alarms of one runtime in a heap and arms a Linux
// timerfd for the earliest. The timerfd is read through Go's poller, so
// the runtime's epoll_wait returns when it expires, to the nanosecond
// rather than the millisecond, and no thread is kept for it. A Clock
// makes a system call only when the earliest deadline moves earlier or
// expires, never per alarm. Elsewhere than Linux the clock runs on a
// time.Timer, no more precise than Go's timers.
//
// Precise wake-ups cost CPU: each one wakes an idle process, and the tasks
// it wakes send batches of a few tuples. A runtime uses a Clock only when
// its topology asks for one (topology.wakeup.precise; README, "Timers
// under a millisecond").
package alarm
