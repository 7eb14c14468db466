package router

import (
	"fmt"
	"math/bits"
	"strings"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

// Grouper picks the destination tasks of one tuple for one subscription
// (an emitting task's stream -> a subscribing component). One Grouper is
// made per emitting task and used from that task's goroutine only: not
// safe for concurrent use. Keeping the state per emitter (the shuffle
// position, the partial-key counts) is what lets Choose run without locks
// or atomics on the per-tuple path.
type Grouper interface {
	// Choose appends to dst the indexes (0..NumTasks-1, in the
	// subscriber's task order) of the tasks that receive the tuple, and
	// returns dst. direct is the task index named by an EmitDirect (only
	// the direct grouping looks at it; -1 otherwise).
	//
	// Choose does not allocate when dst has room for the result (one
	// index, or NumTasks for the all grouping), and it does not keep
	// values or dst.
	Choose(dst []int, values []sdk.Value, direct int) []int
}

// Config describes one subscription as a Grouper sees it.
type Config struct {
	// NumTasks is the number of tasks of the subscribing component,
	// >= 1. Choose returns indexes into the component's tasks in
	// increasing task id order, so index 0 is the lowest task id.
	NumTasks int
	// FieldIdx are the positions in the stream of the grouping fields,
	// in the grouping's order (fields and partial-key groupings; ignored
	// by the others). The order matters: it is the order the key is
	// hashed in.
	FieldIdx []int
	// Local is nil or has NumTasks entries: Local[i] reports whether the
	// subscriber's task i runs in the emitter's process
	// (local-or-shuffle; ignored by the others).
	Local []bool
	// Seed is set per emitting task, so that emitters neither all start
	// at task 0 nor move in lock-step. Pass the emitting task's id or
	// index: consecutive seeds start at consecutive tasks.
	Seed uint64
}

// validate checks the fields of c that grouping t uses. Config is built by
// the runtime from a validated topology, so an error here is a bug in the
// caller; the message names the field to make that bug quick to find.
func (c *Config) validate(t galev1.GroupingType) error {
	if c.NumTasks < 1 {
		return fmt.Errorf("%w: %s: NumTasks is %d, want >= 1", ErrInvalidGrouping, GroupingName(t), c.NumTasks)
	}
	if c.Local != nil && len(c.Local) != c.NumTasks {
		return fmt.Errorf("%w: %s: Local has %d entries, want NumTasks (%d) or nil",
			ErrInvalidGrouping, GroupingName(t), len(c.Local), c.NumTasks)
	}
	if t == galev1.GroupingType_GROUPING_TYPE_FIELDS || t == galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY {
		if len(c.FieldIdx) == 0 {
			return fmt.Errorf("%w: %s: FieldIdx is empty, want the positions of the grouping fields",
				ErrInvalidGrouping, GroupingName(t))
		}
		for i, f := range c.FieldIdx {
			if f < 0 {
				return fmt.Errorf("%w: %s: FieldIdx[%d] is %d, want >= 0", ErrInvalidGrouping, GroupingName(t), i, f)
			}
		}
	}
	return nil
}

// New returns the Grouper of grouping type t for one emitting task and one
// subscription. The package documentation describes each grouping. New
// returns an error wrapping ErrInvalidGrouping for an unspecified or
// unknown type and for a Config that does not fit t.
func New(t galev1.GroupingType, cfg Config) (Grouper, error) {
	if _, ok := groupingNames[t]; !ok {
		if t == galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED {
			return nil, fmt.Errorf("%w: grouping type is unspecified", ErrInvalidGrouping)
		}
		return nil, fmt.Errorf("%w: unknown grouping type %d", ErrInvalidGrouping, int32(t))
	}
	if err := cfg.validate(t); err != nil {
		return nil, err
	}
	n := cfg.NumTasks
	switch t {
	case galev1.GroupingType_GROUPING_TYPE_FIELDS:
		return &fieldsGrouper{n: n, idx: clone(cfg.FieldIdx)}, nil
	case galev1.GroupingType_GROUPING_TYPE_ALL:
		return allGrouper{n: n}, nil
	case galev1.GroupingType_GROUPING_TYPE_GLOBAL:
		return globalGrouper{}, nil
	case galev1.GroupingType_GROUPING_TYPE_DIRECT:
		return directGrouper{n: n}, nil
	case galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE:
		var local []int
		for i, ok := range cfg.Local {
			if ok {
				local = append(local, i)
			}
		}
		if len(local) == 0 {
			return newShuffle(allTasks(n), cfg.Seed), nil
		}
		return newShuffle(local, cfg.Seed), nil
	case galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY:
		return &partialKeyGrouper{n: n, idx: clone(cfg.FieldIdx), sent: make([]uint64, n)}, nil
	default: // SHUFFLE, NONE
		return newShuffle(allTasks(n), cfg.Seed), nil
	}
}

// groupingNames are the names of the groupings in topology files and
// messages: the proto enum names without the prefix, in lowercase.
var groupingNames = map[galev1.GroupingType]string{
	galev1.GroupingType_GROUPING_TYPE_SHUFFLE:          "shuffle",
	galev1.GroupingType_GROUPING_TYPE_FIELDS:           "fields",
	galev1.GroupingType_GROUPING_TYPE_ALL:              "all",
	galev1.GroupingType_GROUPING_TYPE_GLOBAL:           "global",
	galev1.GroupingType_GROUPING_TYPE_DIRECT:           "direct",
	galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE: "local_or_shuffle",
	galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY:      "partial_key",
	galev1.GroupingType_GROUPING_TYPE_NONE:             "none",
}

// validGroupingNames lists the names ParseGrouping accepts, for its error
// message, in enum order.
const validGroupingNames = "shuffle, fields, all, global, direct, local_or_shuffle, partial_key, none"

// GroupingName returns the name of a grouping type as topology files spell
// it ("shuffle", "fields", "local_or_shuffle", ...); "unspecified" for
// GROUPING_TYPE_UNSPECIFIED and "grouping(N)" for an unknown number.
func GroupingName(t galev1.GroupingType) string {
	if name, ok := groupingNames[t]; ok {
		return name
	}
	if t == galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED {
		return "unspecified"
	}
	return fmt.Sprintf("grouping(%d)", int32(t))
}

// ParseGrouping returns the grouping type named name: one of shuffle,
// fields, all, global, direct, local_or_shuffle, partial_key or none, in
// any case (so Storm Flux's "LOCAL_OR_SHUFFLE" works), with "-" accepted
// for "_". The error wraps ErrInvalidGrouping and lists the valid names.
func ParseGrouping(name string) (galev1.GroupingType, error) {
	norm := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for t, n := range groupingNames {
		if n == norm {
			return t, nil
		}
	}
	return galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED,
		fmt.Errorf("%w: unknown grouping %q, want one of %s", ErrInvalidGrouping, name, validGroupingNames)
}

func allTasks(n int) []int {
	tasks := make([]int, n)
	for i := range tasks {
		tasks[i] = i
	}
	return tasks
}

func clone(s []int) []int { return append([]int(nil), s...) }

// shuffleGrouper sends each tuple to one task, round robin over a
// permutation of its candidate tasks (all of them for shuffle and none;
// the local ones for local-or-shuffle) that it reshuffles after every full
// cycle. So over every cycle of len(perm) tuples each candidate gets
// exactly one, and over any window of len(perm) tuples each gets 0, 1 or
// 2; yet the order is not a fixed rotation: a source whose every k-th tuple
// is expensive does not pile them on one task, and emitters seeded
// differently do not move in lock-step.
//
// The first cycle is the candidates in order, rotated by Seed, which
// spreads the first tuples of many emitters even when each emits only a
// few.
//
// Storm compatibility: Storm's ShuffleGrouping also round-robins over a
// shuffled list, but shuffles it once and shares one atomic position among
// the executor's threads; Storm 2's default LoadAwareShuffleGrouping also
// weighs tasks by their reported load. Gale keeps state per emitting task
// and leaves load to the bounded queues' backpressure. Only the
// distribution is specified, not the sequence.
type shuffleGrouper struct {
	perm []int
	pos  int
	rng  uint64 // splitmix64 state
}

func newShuffle(tasks []int, seed uint64) *shuffleGrouper {
	n := len(tasks)
	off := int(seed % uint64(n))
	perm := make([]int, n)
	for i := range perm {
		perm[i] = tasks[(off+i)%n]
	}
	// Mix the seed so that consecutive seeds give unrelated sequences.
	return &shuffleGrouper{perm: perm, rng: mix64(seed ^ golden64)}
}

func (s *shuffleGrouper) Choose(dst []int, _ []sdk.Value, _ int) []int {
	if s.pos == len(s.perm) {
		s.reshuffle()
		s.pos = 0
	}
	t := s.perm[s.pos]
	s.pos++
	return append(dst, t)
}

// reshuffle permutes s.perm with Fisher-Yates. It runs once per cycle, so
// it costs one PRNG step per tuple, amortised.
func (s *shuffleGrouper) reshuffle() {
	for i := len(s.perm) - 1; i > 0; i-- {
		// splitmix64: a 64-bit state, one add and a mix per number.
		s.rng += golden64
		// Lemire's multiply-high maps to [0, i]; its bias (i+1)/2^64 is
		// far below anything that matters for load balancing.
		j, _ := bits.Mul64(mix64(s.rng), uint64(i+1))
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
	}
}

// fieldsGrouper sends each tuple to the task
// JumpHash(FieldsHash(values, FieldIdx), NumTasks): equal keys always go
// to the same task, in every emitter and every SDK (HASHING.md,
// gale-fields-v1), and growing the subscriber from n to n+1 tasks moves
// only about 1/(n+1) of the keys.
//
// Storm compatibility: Storm picks floorMod(Arrays.deepHashCode(key),
// numTasks), so a key lands on a different task index than in Storm, and a
// Storm rebalance moves almost every key. Storm's hash is Java's hashCode,
// which non-Java components cannot easily match; gale-fields-v1 is
// specified byte by byte for every SDK. The kind of a value is part of the
// key: 1 and 1.0 are different keys.
type fieldsGrouper struct {
	n   int
	idx []int
}

func (f *fieldsGrouper) Choose(dst []int, values []sdk.Value, _ int) []int {
	return append(dst, JumpHash(FieldsHash(values, f.idx), f.n))
}

// allGrouper sends every tuple to every task, in task order.
//
// Storm compatibility: the same as Storm's all grouping. The runtime
// shares the tuple's values among the copies, so values must stay
// immutable, as they are in the SDK.
type allGrouper struct{ n int }

func (a allGrouper) Choose(dst []int, _ []sdk.Value, _ int) []int {
	for i := range a.n {
		dst = append(dst, i)
	}
	return dst
}

// globalGrouper sends every tuple to task index 0, the subscriber's task
// with the lowest id.
//
// Storm compatibility: the same as Storm's global grouping, which also
// picks the lowest task id. The subscriber's other tasks get nothing; give
// it parallelism 1 unless they have another input.
type globalGrouper struct{}

func (globalGrouper) Choose(dst []int, _ []sdk.Value, _ int) []int { return append(dst, 0) }

// directGrouper sends each tuple to the task index the emitter named
// (EmitDirect), or to no task when the index is out of range: the
// runtime, which knows the emitter and the stream, reports that error.
//
// Storm compatibility: as in Storm, the stream must be declared direct and
// the emitter names the task. The SDK's EmitDirect names a global task id;
// the runtime turns it into the subscriber's task index before Choose.
// Storm throws on a task that does not subscribe; Gale reports it without
// stopping the task.
type directGrouper struct{ n int }

func (d directGrouper) Choose(dst []int, _ []sdk.Value, direct int) []int {
	if direct >= 0 && direct < d.n {
		dst = append(dst, direct)
	}
	return dst
}

// partialKeyGrouper is key grouping with two choices (Nasir et al., "The
// Power of Both Choices", ICDE 2015): each key has two candidate tasks,
//
//	h  = FieldsHash(values, FieldIdx)
//	c1 = JumpHash(h, NumTasks)
//	c2 = JumpHash(mix64(h ^ 0x9e3779b97f4a7c15), NumTasks)
//
// and each tuple goes to the candidate this grouper has sent fewer tuples
// to so far (ties, and c1 == c2, go to c1). A hot key is thus split over
// two tasks instead of overloading one, at the price that a key's state is
// spread over up to two tasks: the bolt emits partial results and a later
// bolt combines them.
//
// The counts are local to the emitting task, so no coordination is needed;
// with many emitters the sum still balances, as the paper shows.
//
// Storm compatibility: Storm's PartialKeyGrouping is the same algorithm
// with two Murmur3-based hashes, so the candidates differ from Storm's.
type partialKeyGrouper struct {
	n    int
	idx  []int
	sent []uint64 // tuples sent to each task by this grouper
}

func (p *partialKeyGrouper) Choose(dst []int, values []sdk.Value, _ int) []int {
	h := FieldsHash(values, p.idx)
	c := JumpHash(h, p.n)
	if c2 := JumpHash(mix64(h^golden64), p.n); p.sent[c2] < p.sent[c] {
		c = c2
	}
	p.sent[c]++
	return append(dst, c)
}
