// Package bench measures Gale's in-process runtime against a plain Go
// channel pipeline of the same shape, measured in the same run, so that the
// ratio stays meaningful on shared machines whose absolute speed drifts.
//
// Scenarios:
//   - wordcount: sentences -> split (shuffle) -> count (fields on word),
//     with the example's own split and count bolts; the unit is word
//     tuples per second (counted where the count bolt executes them);
//   - passthrough: spout -> bolt -> null bolt; the unit is tuples per
//     second arriving at the null bolt.
//
// Each scenario runs with acking on and off. At "max" the spouts emit as
// fast as backpressure lets them; "half" and "tenth" rate-limit the spouts
// to that share of the max rate measured just before, and report the
// complete latency (p50/p99, acking on) and the CPU used (cores: process
// user+system time over wall time).
//
// `gale bench` prints the table; `go test -bench . ./node/bench` runs the
// same scenarios as Go benchmarks.
//
// PERFORMANCE.md in this folder records what was measured and tried while
// tuning, run by run: the record behind the README's Benchmarks section.
package bench
