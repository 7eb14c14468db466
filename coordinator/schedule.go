package coordinator

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// The scheduler turns desired state (the tasks of every live topology and
// the live nodes) into an assignment, task -> node, for the whole cluster.
// The leader calls it on every change and writes what differs.
//
// Apache Storm's default (even) scheduler places a topology once and
// leaves it there: a new supervisor gets no work until someone runs
// "storm rebalance", and a rebalance frees all of the topology's slots and
// spreads its executors again from scratch, so most of them move, each
// losing its in-memory state, warm caches and in-flight tuples. Gale's
// scheduler is stable instead: it starts from the current assignment and
// moves only what it must (tasks on dead nodes, tasks above a node's
// share, new tasks), the least that any scheduler reaching the same
// shares can move. A node joining takes its share from the nodes above
// their new share (the most loaded ones) and nothing else moves; a node
// leaving moves only its own tasks, into the room the others have under
// their new share.
//
// A task that moves restarts on its new node: its in-memory state (a
// count, an open window) is lost, while the tuples it acked are not
// replayed. So by default (ScheduleKeeping) the tasks of a topology stay
// on their live node even when a node joins: the new node takes tasks of
// new topologies, of rebalances and of nodes that leave or die, and a
// topology opts in to balancing on join (topology.balance.on.join).
//
// Schedule is pure and deterministic (no clock, no randomness, no
// dependence on input or map order), so a newly elected leader recomputes
// the same assignment as its predecessor and writes nothing.

// Errors of the scheduler.
// NodeSlots is a live node and its capacity weight.
type NodeSlots struct {
	// Name is the node's unique, non-empty name.
	Name string
	// Slots is the node's weight, at least 1: a node with more slots gets
	// proportionally more tasks.
	Slots int
}

// TaskRef names one task of one topology.
type TaskRef struct {
	Topology string
	Task     int32
}

func compareTaskRef(a, b TaskRef) int {
	if c := cmp.Compare(a.Topology, b.Topology); c != 0 {
		return c
	}
	return cmp.Compare(a.Task, b.Task)
}

// Schedule assigns every task in tasks to one of nodes, starting from prev,
// the current assignment (nil for none). prev may mention dead nodes and
// tasks that no longer exist; neither is an error, and tasks not in tasks
// are not in the result. A task listed twice in tasks is scheduled once.
//
// The result is:
//
//   - complete: every task is assigned to a node of nodes.
//   - balanced by slots over the whole cluster, all topologies together:
//     with T tasks and S slots in all, node n's target is T*Slots(n)/S,
//     rounded by the largest-remainder method (the largest fractional
//     parts round up, ties to the smaller node name, compared byte-wise)
//     so the targets add up to T. Every node ends exactly at its target.
//     Targets depend on T and nodes only, never on prev, so any leader
//     computes the same ones.
//   - stable: a task keeps its node when that node is live and not above
//     its target. A live node above its target keeps exactly its target
//     and gives up the excess: repeatedly a task of the topology with the
//     most tasks on that node (ties to the smaller topology name), the
//     highest task id of that topology first. Taking from the most
//     concentrated topology undoes pile-ups while it moves; taking the
//     highest ids leaves the low ids, which a topology keeps when it
//     shrinks, where they are. Only tasks on dead nodes, that excess and
//     new tasks move, which is the minimum: Moves(prev, result) equals the
//     tasks of prev on dead nodes plus the sum over live nodes of
//     max(0, kept - target).
//   - spread: the tasks to place go, one topology at a time, the
//     topologies with the most tasks to place first (ties by name) and
//     each topology's tasks in increasing id order, to the node with room
//     under its target that has the fewest tasks of that topology, then
//     the most room left, then the smaller name. So a topology is spread
//     over the nodes as evenly as the global targets allow instead of
//     piled onto one node, and among equals the emptiest node fills
//     first. Larger topologies go first because they need the most
//     distinct nodes (as first-fit decreasing packs the largest items
//     first).
//   - deterministic: the same tasks, nodes and prev, in any order, give
//     the same result.
//
// It returns ErrNoNodes if nodes is empty and ErrBadSlots (wrapped, naming
// the node) for an invalid node. It runs in O(T log T + N log N) time for T
// tasks over N nodes.
func Schedule(tasks []TaskRef, nodes []NodeSlots, prev map[TaskRef]string) (map[TaskRef]string, error) {
	return ScheduleKeeping(tasks, nodes, prev, nil)
}

// ScheduleKeeping is Schedule, except that the tasks of every topology
// for which stay returns true keep their live node even when it is above
// its target: a node above its target gives up only tasks of the other
// topologies, as many as it has up to its excess, and may end above its
// target, while the nodes under theirs (a node that joined) take the
// tasks to place. Such tasks move only when their node leaves or dies.
// A nil stay is Schedule.
func ScheduleKeeping(tasks []TaskRef, nodes []NodeSlots, prev map[TaskRef]string, stay func(topology string) bool) (map[TaskRef]string, error) {
	ns, total, err := sortNodes(nodes)
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 {
		return nil, ErrNoNodes
	}
	ts := slices.Clone(tasks)
	slices.SortFunc(ts, compareTaskRef)
	ts = slices.Compact(ts)

	target := targets(len(ts), ns, total)
	s := newScheduler(ts, ns, target)
	s.keep(prev)
	s.evict(stay)
	s.place()

	out := make(map[TaskRef]string, len(ts))
	for i, t := range ts {
		out[t] = ns[s.assign[i]].Name
	}
	return out, nil
}

// Moves counts the tasks present in both a and b whose node differs.
func Moves(a, b map[TaskRef]string) int {
	if len(b) < len(a) {
		a, b = b, a
	}
	n := 0
	for t, na := range a {
		if nb, ok := b[t]; ok && nb != na {
			n++
		}
	}
	return n
}

// sortNodes validates nodes and returns them sorted by name, with the sum
// of their slots. Validation runs in name order, so the error reported for
// several bad nodes does not depend on input order either.
func sortNodes(nodes []NodeSlots) ([]NodeSlots, uint64, error) {
	ns := slices.Clone(nodes)
	slices.SortFunc(ns, func(a, b NodeSlots) int { return cmp.Compare(a.Name, b.Name) })
	var total uint64
	for i, n := range ns {
		switch {
		case n.Name == "":
			return nil, 0, fmt.Errorf("node with %d slots has an empty name: %w", n.Slots, ErrBadSlots)
		case i > 0 && ns[i-1].Name == n.Name:
			return nil, 0, fmt.Errorf("node %q listed twice: %w", n.Name, ErrBadSlots)
		case n.Slots < 1:
			return nil, 0, fmt.Errorf("node %q has %d slots, want at least 1: %w", n.Name, n.Slots, ErrBadSlots)
		}
		var carry uint64
		total, carry = bits.Add64(total, uint64(n.Slots), 0)
		if carry != 0 {
			return nil, 0, fmt.Errorf("node %q: total slots overflow: %w", n.Name, ErrBadSlots)
		}
	}
	return ns, total, nil
}

// targets returns each node's share of t tasks by the largest-remainder
// method. ns is sorted by name and total is the sum of its slots (> 0).
// The products t*slots are computed in 128 bits, so no weight overflows.
func targets(t int, ns []NodeSlots, total uint64) []int {
	target := make([]int, len(ns))
	rem := make([]uint64, len(ns))
	left := t
	for i, n := range ns {
		hi, lo := bits.Mul64(uint64(t), uint64(n.Slots))
		// hi < total because the quotient, at most t, fits in 64 bits.
		q, r := bits.Div64(hi, lo, total)
		target[i], rem[i] = int(q), r
		left -= int(q)
	}
	if left == 0 {
		return target
	}
	// 0 < left < len(ns): the largest remainders round up. All remainders
	// are over the same denominator, so they compare as integers.
	order := make([]int, len(ns))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(rem[b], rem[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b) // ns is sorted by name
	})
	for _, i := range order[:left] {
		target[i]++
	}
	return target
}

// scheduler is the working state of one Schedule call. Nodes are indexes
// into the name-sorted node list, tasks indexes into the sorted task list.
type scheduler struct {
	tasks  []TaskRef
	nodes  []NodeSlots
	target []int
	assign []int32 // task -> node, or -1 while unplaced
	load   []int   // node -> tasks kept on it
}

func newScheduler(ts []TaskRef, ns []NodeSlots, target []int) *scheduler {
	return &scheduler{
		tasks:  ts,
		nodes:  ns,
		target: target,
		assign: make([]int32, len(ts)),
		load:   make([]int, len(ns)),
	}
}

// keep puts every task that prev places on a live node back on it.
func (s *scheduler) keep(prev map[TaskRef]string) {
	index := make(map[string]int32, len(s.nodes))
	for i, n := range s.nodes {
		index[n.Name] = int32(i)
	}
	for i, t := range s.tasks {
		s.assign[i] = -1
		if name, ok := prev[t]; ok {
			if n, ok := index[name]; ok {
				s.assign[i] = n
				s.load[n]++
			}
		}
	}
}

// evict unplaces the excess of every node above its target; see Schedule
// for which tasks go. Tasks of topologies that stay are not unplaced.
func (s *scheduler) evict(stay func(topology string) bool) {
	over := make(map[int32][]int) // node -> its tasks, in task order
	for n, l := range s.load {
		if l > s.target[n] {
			over[int32(n)] = nil
		}
	}
	if len(over) == 0 {
		return
	}
	staying := map[string]bool{}
	for i, n := range s.assign {
		if n < 0 {
			continue
		}
		if stay != nil {
			topo := s.tasks[i].Topology
			st, seen := staying[topo]
			if !seen {
				st = stay(topo)
				staying[topo] = st
			}
			if st {
				continue
			}
		}
		if list, ok := over[n]; ok {
			over[n] = append(list, i)
		}
	}
	// A run of one topology's tasks on the node: list[start:end] in
	// increasing id order, the highest evicted first.
	type run struct{ start, end int }
	for n, list := range over {
		var runs []run
		for i := 0; i < len(list); {
			j := i + 1
			for j < len(list) && s.tasks[list[j]].Topology == s.tasks[list[i]].Topology {
				j++
			}
			runs = append(runs, run{i, j})
			i = j
		}
		h := heapOf[run]{less: func(a, b run) bool {
			if la, lb := a.end-a.start, b.end-b.start; la != lb {
				return la > lb
			}
			return s.tasks[list[a.start]].Topology < s.tasks[list[b.start]].Topology
		}}
		h.init(runs)
		for range min(s.load[n]-s.target[n], len(list)) {
			r := &h.items[0]
			r.end--
			s.assign[list[r.end]] = -1
			if r.end == r.start {
				h.pop()
			} else {
				h.fixTop()
			}
		}
		s.load[n] -= min(s.load[n]-s.target[n], len(list))
	}
}

// place assigns the unplaced tasks; see Schedule for the rule.
//
// For each topology, a local heap holds the nodes that already have some of
// its tasks and still have room, ordered by (tasks of the topology, room
// desc, name). A node without any of its tasks beats all of those, and the
// best such node is the top of the global heap of all nodes with room,
// ordered by (room desc, name), once the nodes that do have tasks of the
// topology are set aside (they go back when the topology is done). So the
// global heap's order never goes stale: a node's room changes only after
// it has left it. Each task costs O(log N), and each node set aside is paid
// for by a task of that topology it holds, so placing is O((T + N) log N).
func (s *scheduler) place() {
	room := make([]int, len(s.nodes))
	for n := range room {
		room[n] = s.target[n] - s.load[n]
	}
	global := heapOf[int32]{less: func(a, b int32) bool {
		if room[a] != room[b] {
			return room[a] > room[b]
		}
		return a < b // nodes are sorted by name
	}}
	var all []int32
	for n := range room {
		if room[n] > 0 {
			all = append(all, int32(n))
		}
	}
	if len(all) == 0 {
		return // nothing to place: the rooms add up to the unplaced tasks
	}
	global.init(all)

	// Topologies with tasks to place: [start, end) in s.tasks, and how
	// many of those are unplaced.
	type group struct{ start, end, todo int }
	var groups []group
	for i := 0; i < len(s.tasks); {
		j, todo := i, 0
		for ; j < len(s.tasks) && s.tasks[j].Topology == s.tasks[i].Topology; j++ {
			if s.assign[j] < 0 {
				todo++
			}
		}
		if todo > 0 {
			groups = append(groups, group{i, j, todo})
		}
		i = j
	}
	slices.SortFunc(groups, func(a, b group) int {
		if c := cmp.Compare(b.todo, a.todo); c != 0 {
			return c
		}
		return cmp.Compare(s.tasks[a.start].Topology, s.tasks[b.start].Topology)
	})

	count := make([]int, len(s.nodes)) // node -> tasks of the current topology
	var touched, aside, seed []int32
	local := heapOf[int32]{less: func(a, b int32) bool {
		if count[a] != count[b] {
			return count[a] < count[b]
		}
		if room[a] != room[b] {
			return room[a] > room[b]
		}
		return a < b
	}}
	for _, g := range groups {
		touched, aside, seed = touched[:0], aside[:0], local.items[:0]
		for i := g.start; i < g.end; i++ {
			if n := s.assign[i]; n >= 0 {
				if count[n] == 0 {
					touched = append(touched, n)
				}
				count[n]++
			}
		}
		for _, n := range touched {
			if room[n] > 0 {
				seed = append(seed, n)
			}
		}
		local.init(seed)

		for i := g.start; i < g.end; i++ {
			if s.assign[i] >= 0 {
				continue
			}
			for global.len() > 0 && count[global.items[0]] > 0 {
				aside = append(aside, global.pop())
			}
			if global.len() > 0 {
				// A node without tasks of this topology: it joins the
				// local heap with its first.
				n := global.pop()
				aside = append(aside, n)
				touched = append(touched, n)
				s.assign[i] = n
				count[n]++
				room[n]--
				if room[n] > 0 {
					local.push(n)
				}
				continue
			}
			// Every node with room has tasks of this topology already.
			n := local.items[0]
			s.assign[i] = n
			count[n]++
			room[n]--
			if room[n] == 0 {
				local.pop()
			} else {
				local.fixTop()
			}
		}
		for _, n := range aside {
			if room[n] > 0 {
				global.push(n)
			}
		}
		for _, n := range touched {
			count[n] = 0
		}
	}
}

// heapOf is a binary min-heap under less.
type heapOf[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *heapOf[T]) len() int { return len(h.items) }

func (h *heapOf[T]) init(items []T) {
	h.items = items
	for i := len(items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *heapOf[T]) push(x T) {
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *heapOf[T]) pop() T {
	x := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	h.down(0)
	return x
}

func (h *heapOf[T]) fixTop() { h.down(0) }

func (h *heapOf[T]) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h.items) {
			return
		}
		if r := c + 1; r < len(h.items) && h.less(h.items[r], h.items[c]) {
			c = r
		}
		if !h.less(h.items[c], h.items[i]) {
			return
		}
		h.items[i], h.items[c] = h.items[c], h.items[i]
		i = c
	}
}
