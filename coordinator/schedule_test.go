package coordinator

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// topo returns tasks 1..n of a topology (task ids start at 1 as in specs).
func topo(name string, n int) []TaskRef {
	ts := make([]TaskRef, n)
	for i := range ts {
		ts[i] = TaskRef{Topology: name, Task: int32(i + 1)}
	}
	return ts
}

func topos(sizes map[string]int) []TaskRef {
	var ts []TaskRef
	for _, name := range slices.Sorted(maps.Keys(sizes)) {
		ts = append(ts, topo(name, sizes[name])...)
	}
	return ts
}

func equalNodes(names ...string) []NodeSlots {
	ns := make([]NodeSlots, len(names))
	for i, n := range names {
		ns[i] = NodeSlots{Name: n, Slots: 1}
	}
	return ns
}

func without(ns []NodeSlots, name string) []NodeSlots {
	return slices.DeleteFunc(slices.Clone(ns), func(n NodeSlots) bool { return n.Name == name })
}

// wantTargets is an independent oracle for the targets: exact rationals,
// largest remainder, ties to the smaller name.
func wantTargets(tasks int, nodes []NodeSlots) map[string]int {
	total := new(big.Int)
	for _, n := range nodes {
		total.Add(total, big.NewInt(int64(n.Slots)))
	}
	type share struct {
		name string
		rem  *big.Rat
	}
	out := map[string]int{}
	var shares []share
	left := tasks
	for _, n := range nodes {
		q := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(int64(tasks)), big.NewInt(int64(n.Slots))), total)
		fl := new(big.Int).Quo(q.Num(), q.Denom())
		out[n.Name] = int(fl.Int64())
		left -= int(fl.Int64())
		shares = append(shares, share{n.Name, new(big.Rat).Sub(q, new(big.Rat).SetInt(fl))})
	}
	slices.SortFunc(shares, func(a, b share) int {
		if c := b.rem.Cmp(a.rem); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for _, s := range shares[:left] {
		out[s.name]++
	}
	return out
}

func uniqueTasks(tasks []TaskRef) []TaskRef {
	ts := slices.Clone(tasks)
	slices.SortFunc(ts, compareTaskRef)
	return slices.Compact(ts)
}

// load counts the tasks per node.
func load(a map[TaskRef]string) map[string]int {
	l := map[string]int{}
	for _, n := range a {
		l[n]++
	}
	return l
}

// perTopology counts the tasks of each topology per node.
func perTopology(a map[TaskRef]string) map[string]map[string]int {
	out := map[string]map[string]int{}
	for t, n := range a {
		if out[t.Topology] == nil {
			out[t.Topology] = map[string]int{}
		}
		out[t.Topology][n]++
	}
	return out
}

// checkValid fails unless got assigns exactly tasks, each to a node of
// nodes, and every node holds exactly its target.
func checkValid(t *testing.T, tasks []TaskRef, nodes []NodeSlots, got map[TaskRef]string) {
	t.Helper()
	ts := uniqueTasks(tasks)
	if len(got) != len(ts) {
		t.Fatalf("assignment has %d tasks, want %d", len(got), len(ts))
	}
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Name] = true
	}
	for _, task := range ts {
		n, ok := got[task]
		if !ok {
			t.Fatalf("task %v not assigned", task)
		}
		if !live[n] {
			t.Fatalf("task %v assigned to %q, not a live node", task, n)
		}
	}
	want := wantTargets(len(ts), nodes)
	l := load(got)
	for _, n := range nodes {
		if l[n.Name] != want[n.Name] {
			t.Fatalf("node %s holds %d tasks, target %d (loads %v, targets %v)", n.Name, l[n.Name], want[n.Name], l, want)
		}
	}
}

// minMoves is the least any balanced schedule must move from prev: the
// tasks of prev on dead nodes plus every live node's excess over its
// target.
func minMoves(tasks []TaskRef, nodes []NodeSlots, prev map[TaskRef]string) int {
	ts := uniqueTasks(tasks)
	want := wantTargets(len(ts), nodes)
	kept := map[string]int{}
	moves := 0
	for _, task := range ts {
		n, ok := prev[task]
		if !ok {
			continue
		}
		if _, live := want[n]; !live {
			moves++
			continue
		}
		kept[n]++
	}
	for n, k := range kept {
		moves += max(0, k-want[n])
	}
	return moves
}

// checkStable fails unless every task of prev on a live node that is not
// over its target kept its node, and every live node over its target kept
// exactly its target of its prev tasks.
func checkStable(t *testing.T, tasks []TaskRef, nodes []NodeSlots, prev, got map[TaskRef]string) {
	t.Helper()
	ts := uniqueTasks(tasks)
	want := wantTargets(len(ts), nodes)
	had := map[string]int{}
	for _, task := range ts {
		if n, ok := prev[task]; ok {
			if _, live := want[n]; live {
				had[n]++
			}
		}
	}
	stayed := map[string]int{}
	for _, task := range ts {
		n, ok := prev[task]
		if !ok {
			continue
		}
		if got[task] == n {
			stayed[n]++
		} else if _, live := want[n]; live && had[n] <= want[n] {
			t.Fatalf("task %v moved %s -> %s although %s is live and not over target (%d <= %d)", task, n, got[task], n, had[n], want[n])
		}
	}
	for n, h := range had {
		if s := min(h, want[n]); stayed[n] != s {
			t.Fatalf("node %s kept %d of its %d tasks, want %d (target %d)", n, stayed[n], h, s, want[n])
		}
	}
	if m, w := Moves(prev, got), minMoves(tasks, nodes, prev); m != w {
		t.Fatalf("moved %d tasks, the minimum is %d", m, w)
	}
}

func mustSchedule(t testing.TB, tasks []TaskRef, nodes []NodeSlots, prev map[TaskRef]string) map[TaskRef]string {
	t.Helper()
	got, err := Schedule(tasks, nodes, prev)
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	return got
}

func TestScheduleTargets(t *testing.T) {
	tests := []struct {
		name  string
		tasks []TaskRef
		nodes []NodeSlots
		want  map[string]int // tasks per node
	}{
		{"all equal", topo("t", 12), equalNodes("a", "b", "c"), map[string]int{"a": 4, "b": 4, "c": 4}},
		{"equal, remainder to the smaller names", topo("t", 5), equalNodes("c", "b", "a"), map[string]int{"a": 2, "b": 2, "c": 1}},
		{"slots 1,2,3 exact", topo("t", 12), []NodeSlots{{"a", 1}, {"b", 2}, {"c", 3}}, map[string]int{"a": 2, "b": 4, "c": 6}},
		// 10*1/6=1.67, 10*2/6=3.33, 10*3/6=5: a's .67 is the largest remainder.
		{"slots 1,2,3 rounded", topo("t", 10), []NodeSlots{{"c", 3}, {"a", 1}, {"b", 2}}, map[string]int{"a": 2, "b": 3, "c": 5}},
		// 7*1/6=1.17, 7*2/6=2.33, 7*3/6=3.5: c rounds up, not the smaller name.
		{"largest remainder beats name", topo("t", 7), []NodeSlots{{"a", 1}, {"b", 2}, {"c", 3}}, map[string]int{"a": 1, "b": 2, "c": 4}},
		{"more nodes than tasks", topo("t", 3), equalNodes("e", "d", "c", "b", "a"), map[string]int{"a": 1, "b": 1, "c": 1}},
		{"single node", topos(map[string]int{"x": 3, "y": 4}), equalNodes("solo"), map[string]int{"solo": 7}},
		{"no tasks", nil, equalNodes("a", "b"), map[string]int{}},
		{"duplicate tasks count once", append(topo("t", 4), topo("t", 4)...), equalNodes("a", "b"), map[string]int{"a": 2, "b": 2}},
		// Slots near 2^63 (total 2^64-3): shares 1.5, 0.75, 0.75 exactly
		// enough that b and c round up, not a.
		{"huge slots do not overflow", topo("t", 3), []NodeSlots{{"a", math.MaxInt}, {"b", math.MaxInt / 2}, {"c", math.MaxInt / 2}}, map[string]int{"a": 1, "b": 1, "c": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustSchedule(t, tt.tasks, tt.nodes, nil)
			checkValid(t, tt.tasks, tt.nodes, got)
			if l := load(got); !maps.Equal(l, tt.want) {
				t.Fatalf("loads %v, want %v", l, tt.want)
			}
		})
	}
}

func TestScheduleErrors(t *testing.T) {
	tests := []struct {
		name  string
		nodes []NodeSlots
		want  error
		names string // in the message
	}{
		{"no nodes", nil, ErrNoNodes, ""},
		{"zero slots", []NodeSlots{{"a", 1}, {"b", 0}}, ErrBadSlots, `"b"`},
		{"negative slots", []NodeSlots{{"a", -3}}, ErrBadSlots, `"a"`},
		{"empty name", []NodeSlots{{"a", 1}, {"", 1}}, ErrBadSlots, "empty name"},
		{"duplicate name", []NodeSlots{{"a", 1}, {"b", 1}, {"a", 2}}, ErrBadSlots, `"a"`},
		{"total overflows", []NodeSlots{{"a", math.MaxInt}, {"b", math.MaxInt}, {"c", math.MaxInt}}, ErrBadSlots, "overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == ErrBadSlots && strings.Contains(tt.names, "overflow") && strconv.IntSize < 64 {
				t.Skip("slots cannot overflow 64 bits with a 32-bit int")
			}
			for _, tasks := range [][]TaskRef{nil, topo("t", 3)} {
				got, err := Schedule(tasks, tt.nodes, nil)
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if got != nil {
					t.Fatalf("got an assignment %v with an error", got)
				}
				if !strings.Contains(err.Error(), tt.names) {
					t.Fatalf("err %q does not mention %s", err, tt.names)
				}
			}
		})
	}
}

func TestMoves(t *testing.T) {
	a := map[TaskRef]string{{"t", 1}: "x", {"t", 2}: "x", {"t", 3}: "y", {"u", 1}: "y"}
	b := map[TaskRef]string{{"t", 1}: "x", {"t", 2}: "y", {"t", 3}: "x", {"v", 1}: "z"}
	if got := Moves(a, b); got != 2 {
		t.Fatalf("Moves = %d, want 2", got)
	}
	if got := Moves(b, a); got != 2 {
		t.Fatalf("Moves reversed = %d, want 2", got)
	}
	if got := Moves(a, nil); got != 0 {
		t.Fatalf("Moves against nil = %d, want 0", got)
	}
}

// fourByTwentyFive is 100 tasks in four topologies over four equal nodes.
func fourByTwentyFive(t *testing.T) ([]TaskRef, []NodeSlots, map[TaskRef]string) {
	t.Helper()
	tasks := topos(map[string]int{"w": 25, "x": 25, "y": 25, "z": 25})
	nodes := equalNodes("n1", "n2", "n3", "n4")
	a := mustSchedule(t, tasks, nodes, nil)
	checkValid(t, tasks, nodes, a)
	return tasks, nodes, a
}

func TestScheduleNodeJoins(t *testing.T) {
	tasks, nodes, prev := fourByTwentyFive(t)
	nodes = append(nodes, NodeSlots{"n5", 1})
	got := mustSchedule(t, tasks, nodes, prev)
	checkValid(t, tasks, nodes, got)
	checkStable(t, tasks, nodes, prev, got)
	if m := Moves(prev, got); m != 20 {
		t.Fatalf("moved %d tasks, want n5's target 20", m)
	}
	from := map[string]int{}
	for task, n := range got {
		if n != prev[task] {
			if n != "n5" {
				t.Fatalf("task %v moved %s -> %s, not to the new node", task, prev[task], n)
			}
			from[prev[task]]++
		}
	}
	if want := map[string]int{"n1": 5, "n2": 5, "n3": 5, "n4": 5}; !maps.Equal(from, want) {
		t.Fatalf("n5 took %v, want 5 from each", from)
	}
	// The excess comes from each node's most concentrated topology, so
	// the new node gets a mix, not one topology.
	for name, per := range perTopology(got) {
		if per["n5"] < 4 || per["n5"] > 6 {
			t.Errorf("topology %s has %d tasks on n5, want about 5 (%v)", name, per["n5"], per)
		}
	}
}

func TestScheduleNodeLeaves(t *testing.T) {
	tasks, nodes, prev := fourByTwentyFive(t)
	nodes = without(nodes, "n3")
	got := mustSchedule(t, tasks, nodes, prev)
	checkValid(t, tasks, nodes, got)
	checkStable(t, tasks, nodes, prev, got)
	for task, n := range got {
		if n != prev[task] && prev[task] != "n3" {
			t.Fatalf("task %v moved %s -> %s, but only n3's tasks should move", task, prev[task], n)
		}
	}
	if m := Moves(prev, got); m != 25 {
		t.Fatalf("moved %d tasks, want n3's 25", m)
	}
	if l := load(got); !maps.Equal(l, map[string]int{"n1": 34, "n2": 33, "n4": 33}) {
		t.Fatalf("loads %v", l)
	}
}

// TestScheduleNodeLeavesUnequal checks that a dead node's tasks fill the
// survivors' room: a node with more slots takes more of them.
func TestScheduleNodeLeavesUnequal(t *testing.T) {
	tasks := topos(map[string]int{"x": 30, "y": 30})
	nodes := []NodeSlots{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}
	prev := mustSchedule(t, tasks, nodes, nil) // a 6, b 12, c 18, d 24
	nodes = without(nodes, "c")
	got := mustSchedule(t, tasks, nodes, prev) // a 60/7=8.57->9, b 17.14->17, d 34.29->34
	checkValid(t, tasks, nodes, got)
	checkStable(t, tasks, nodes, prev, got)
	gained := map[string]int{}
	for task, n := range got {
		if n != prev[task] {
			gained[n]++
		}
	}
	if want := map[string]int{"a": 3, "b": 5, "d": 10}; !maps.Equal(gained, want) {
		t.Fatalf("c's tasks went %v, want %v", gained, want)
	}
}

func TestScheduleNodeLeavesAndReturns(t *testing.T) {
	tasks, nodes, a0 := fourByTwentyFive(t)
	a1 := mustSchedule(t, tasks, without(nodes, "n2"), a0)
	a2 := mustSchedule(t, tasks, nodes, a1)
	checkValid(t, tasks, nodes, a2)
	checkStable(t, tasks, nodes, a1, a2)
	if m := Moves(a1, a2); m != 25 {
		t.Fatalf("moved %d tasks when n2 came back, want its target 25", m)
	}
	for task, n := range a2 {
		if n != a1[task] && n != "n2" {
			t.Fatalf("task %v moved %s -> %s, not to the returning node", task, a1[task], n)
		}
	}
	// Still spread: every topology within 25/4 +- 2 on every node.
	for name, per := range perTopology(a2) {
		for _, n := range nodes {
			if c := per[n.Name]; c < 4 || c > 9 {
				t.Errorf("topology %s has %d tasks on %s (%v)", name, c, n.Name, per)
			}
		}
	}
}

func TestScheduleTopologyAddedAndRemoved(t *testing.T) {
	tasks, nodes, prev := fourByTwentyFive(t)

	added := append(slices.Clone(tasks), topo("new", 8)...)
	got := mustSchedule(t, added, nodes, prev)
	checkValid(t, added, nodes, got)
	checkStable(t, added, nodes, prev, got)
	if m := Moves(prev, got); m != 0 {
		t.Fatalf("adding a topology moved %d running tasks", m)
	}
	if per := perTopology(got)["new"]; !maps.Equal(per, map[string]int{"n1": 2, "n2": 2, "n3": 2, "n4": 2}) {
		t.Fatalf("new topology placed %v, want 2 per node", per)
	}

	removed := slices.DeleteFunc(slices.Clone(added), func(r TaskRef) bool { return r.Topology == "x" })
	got2 := mustSchedule(t, removed, nodes, got)
	checkValid(t, removed, nodes, got2)
	checkStable(t, removed, nodes, got, got2)
	for task := range got2 {
		if task.Topology == "x" {
			t.Fatalf("removed topology still assigned: %v", task)
		}
	}
}

func TestSchedulePrevWithUnknowns(t *testing.T) {
	tasks := topo("t", 6)
	nodes := equalNodes("a", "b", "c")
	prev := map[TaskRef]string{
		{"t", 1}:    "a",
		{"t", 2}:    "ghost", // dead node
		{"t", 3}:    "b",
		{"t", 99}:   "a", // task that no longer exists
		{"gone", 1}: "c", // topology that no longer exists
		{"gone", 2}: "ghost",
	}
	got := mustSchedule(t, tasks, nodes, prev)
	checkValid(t, tasks, nodes, got)
	checkStable(t, tasks, nodes, prev, got)
	if got[TaskRef{"t", 1}] != "a" || got[TaskRef{"t", 3}] != "b" {
		t.Fatalf("live placements not kept: %v", got)
	}
	if m := Moves(prev, got); m != 1 {
		t.Fatalf("moved %d, want 1 (the task on the dead node)", m)
	}
}

// TestScheduleEvictionRule pins the documented rule for a node over its
// target: the most concentrated topology first, its highest ids first.
func TestScheduleEvictionRule(t *testing.T) {
	tasks := append(topo("p", 6), topo("q", 2)...)
	nodes := equalNodes("a", "b")
	prev := map[TaskRef]string{}
	for _, task := range tasks {
		prev[task] = "a" // all 8 on a; target 4 each
	}
	got := mustSchedule(t, tasks, nodes, prev)
	checkStable(t, tasks, nodes, prev, got)
	// p has 6 on a and q 2: p stays the most concentrated while p6, p5,
	// p4 and p3 go, so a keeps p1, p2, q1 and q2.
	var moved []TaskRef
	for task, n := range got {
		if n == "b" {
			moved = append(moved, task)
		}
	}
	slices.SortFunc(moved, compareTaskRef)
	want := []TaskRef{{"p", 3}, {"p", 4}, {"p", 5}, {"p", 6}}
	if !slices.Equal(moved, want) {
		t.Fatalf("moved %v, want %v", moved, want)
	}

	// Equal concentration: ties go to the smaller topology name.
	tasks = append(topo("q", 3), topo("p", 3)...)
	prev = map[TaskRef]string{}
	for _, task := range tasks {
		prev[task] = "a"
	}
	got = mustSchedule(t, tasks, nodes, prev)
	moved = moved[:0]
	for task, n := range got {
		if n == "b" {
			moved = append(moved, task)
		}
	}
	slices.SortFunc(moved, compareTaskRef)
	want = []TaskRef{{"p", 2}, {"p", 3}, {"q", 3}}
	if !slices.Equal(moved, want) {
		t.Fatalf("moved %v, want %v", moved, want)
	}
}

func TestScheduleSpread(t *testing.T) {
	tests := []struct {
		name  string
		sizes map[string]int
		nodes []NodeSlots
	}{
		{"one topology of 4 over 4", map[string]int{"t": 4}, equalNodes("a", "b", "c", "d")},
		{"three topologies over 3", map[string]int{"x": 5, "y": 7, "z": 3}, equalNodes("a", "b", "c")},
		{"many small topologies", map[string]int{"a": 3, "b": 3, "c": 3, "d": 3, "e": 3, "f": 3}, equalNodes("n1", "n2", "n3")},
		{"unequal slots", map[string]int{"x": 6, "y": 6}, []NodeSlots{{"a", 1}, {"b", 2}, {"c", 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := topos(tt.sizes)
			got := mustSchedule(t, tasks, tt.nodes, nil)
			checkValid(t, tasks, tt.nodes, got)
			var total int
			for _, n := range tt.nodes {
				total += n.Slots
			}
			// Each topology gets within one of its own slot-proportional
			// share on every node.
			for name, per := range perTopology(got) {
				for _, n := range tt.nodes {
					share := float64(tt.sizes[name]*n.Slots) / float64(total)
					if c := float64(per[n.Name]); c < share-1 || c > share+1 {
						t.Errorf("topology %s has %v tasks on %s, share %.2f (%v)", name, c, n.Name, share, per)
					}
				}
			}
		})
	}
	// The example from the brief, exactly.
	got := mustSchedule(t, topo("t", 4), equalNodes("d", "c", "b", "a"), nil)
	if l := load(got); !maps.Equal(l, map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}) {
		t.Fatalf("4 tasks over 4 nodes: %v", l)
	}
}

// refSchedule is a naive O(T*N) implementation of the rule documented on
// Schedule, written for clarity, to check the fast one against.
func refSchedule(tasks []TaskRef, nodes []NodeSlots, prev map[TaskRef]string) map[TaskRef]string {
	ts := uniqueTasks(tasks)
	ns := slices.SortedFunc(slices.Values(nodes), func(a, b NodeSlots) int { return cmp.Compare(a.Name, b.Name) })
	want := wantTargets(len(ts), ns)
	out := map[TaskRef]string{}
	on := map[string][]TaskRef{}
	for _, task := range ts {
		if n, ok := prev[task]; ok {
			if _, live := want[n]; live {
				out[task] = n
				on[n] = append(on[n], task)
			}
		}
	}
	for _, n := range ns {
		for len(on[n.Name]) > want[n.Name] {
			per := map[string]int{}
			for _, task := range on[n.Name] {
				per[task.Topology]++
			}
			var worst string
			for name, c := range per {
				if worst == "" || c > per[worst] || c == per[worst] && name < worst {
					worst = name
				}
			}
			var victim TaskRef
			found := false
			for _, task := range on[n.Name] {
				if task.Topology == worst && (!found || task.Task > victim.Task) {
					victim, found = task, true
				}
			}
			delete(out, victim)
			on[n.Name] = slices.DeleteFunc(on[n.Name], func(r TaskRef) bool { return r == victim })
		}
	}
	room := map[string]int{}
	for _, n := range ns {
		room[n.Name] = want[n.Name] - len(on[n.Name])
	}
	todo := map[string][]TaskRef{}
	for _, task := range ts {
		if _, ok := out[task]; !ok {
			todo[task.Topology] = append(todo[task.Topology], task)
		}
	}
	order := slices.SortedFunc(maps.Keys(todo), func(a, b string) int {
		if c := cmp.Compare(len(todo[b]), len(todo[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, name := range order {
		count := map[string]int{}
		for task, n := range out {
			if task.Topology == name {
				count[n]++
			}
		}
		for _, task := range todo[name] {
			best := ""
			for _, n := range ns {
				if room[n.Name] == 0 {
					continue
				}
				if best == "" || count[n.Name] < count[best] ||
					count[n.Name] == count[best] && room[n.Name] > room[best] {
					best = n.Name
				}
			}
			out[task] = best
			count[best]++
			room[best]--
		}
	}
	return out
}

// cluster is the random desired state of the property test.
type cluster struct {
	sizes  map[string]int
	nodes  []NodeSlots
	nextID int
}

func (c *cluster) tasks() []TaskRef { return topos(c.sizes) }

func (c *cluster) addNode(r *rand.Rand, equal bool) string {
	c.nextID++
	// Random names, so new nodes sort anywhere among the old ones.
	name := fmt.Sprintf("n%02d-%d", r.IntN(100), c.nextID)
	slots := 1
	if !equal {
		slots = 1 + r.IntN(5)
	}
	c.nodes = append(c.nodes, NodeSlots{name, slots})
	return name
}

func randomCluster(r *rand.Rand, equal bool) *cluster {
	c := &cluster{sizes: map[string]int{}}
	for range 1 + r.IntN(8) {
		c.addNode(r, equal)
	}
	for i := range r.IntN(6) {
		c.sizes[fmt.Sprintf("topo%d", i)] = r.IntN(40)
	}
	return c
}

func shuffled[T any](r *rand.Rand, s []T) []T {
	s = slices.Clone(s)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// TestSchedulePropertyRandom runs random clusters through random steps
// (nodes joining, leaving, changing slots; topologies added, removed,
// resized; garbage and unbalanced previous assignments) and checks every
// result: complete and at the targets, stable with exactly the minimum
// number of moves, equal to the naive reference, and the same for
// shuffled and duplicated input.
func TestSchedulePropertyRandom(t *testing.T) {
	cases, steps := 400, 12
	if testing.Short() {
		cases = 50
	}
	for seed := range cases {
		r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
		equal := seed%2 == 0
		c := randomCluster(r, equal)
		prev := map[TaskRef]string{}
		for step := range steps {
			op, joined := "start", ""
			switch k := r.IntN(8); {
			case step == 0:
			case k == 0:
				op, joined = "join", c.addNode(r, equal)
			case k == 1 && len(c.nodes) > 1:
				i := r.IntN(len(c.nodes))
				op = "leave " + c.nodes[i].Name
				c.nodes = slices.Delete(c.nodes, i, i+1)
			case k == 2 && !equal:
				i := r.IntN(len(c.nodes))
				c.nodes[i].Slots = 1 + r.IntN(5)
				op = "reslot " + c.nodes[i].Name
			case k == 3:
				c.nextID++
				op = "add topology"
				c.sizes[fmt.Sprintf("topo-%d", c.nextID)] = 1 + r.IntN(40)
			case k == 4 && len(c.sizes) > 0:
				names := slices.Sorted(maps.Keys(c.sizes))
				op = "remove topology"
				delete(c.sizes, names[r.IntN(len(names))])
			case k == 5 && len(c.sizes) > 0:
				names := slices.Sorted(maps.Keys(c.sizes))
				op = "resize topology"
				c.sizes[names[r.IntN(len(names))]] = r.IntN(40)
			case k == 6:
				// An arbitrary previous assignment: unbalanced, with dead
				// nodes and stale tasks.
				op = "garbage prev"
				prev = map[TaskRef]string{}
				for _, task := range append(c.tasks(), topo("stale", 5)...) {
					if r.IntN(5) > 0 {
						if r.IntN(4) == 0 {
							prev[task] = "dead"
						} else {
							prev[task] = c.nodes[r.IntN(min(2, len(c.nodes)))].Name
						}
					}
				}
			default:
				op = "steady"
			}
			tasks := c.tasks()
			name := fmt.Sprintf("seed %d step %d (%s)", seed, step, op)

			got, err := Schedule(tasks, c.nodes, prev)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			t.Run("", func(t *testing.T) {
				checkValid(t, tasks, c.nodes, got)
				checkStable(t, tasks, c.nodes, prev, got)
			})
			if t.Failed() {
				t.Fatalf("%s failed", name)
			}
			if ref := refSchedule(tasks, c.nodes, prev); !maps.Equal(got, ref) {
				t.Fatalf("%s: differs from the reference:\n got %v\nwant %v", name, got, ref)
			}
			dup := append(shuffled(r, tasks), tasks[:len(tasks)/3]...)
			again, err := Schedule(shuffled(r, dup), shuffled(r, c.nodes), maps.Clone(prev))
			if err != nil || !maps.Equal(got, again) {
				t.Fatalf("%s: not deterministic under shuffled input (err %v)", name, err)
			}
			if op == "join" && equal && len(prev) == len(tasks) {
				// From a balanced assignment of the same tasks, a node
				// joining takes its target and nothing else moves.
				balanced := true
				want := wantTargets(len(tasks), without(c.nodes, joined))
				for n, l := range load(prev) {
					balanced = balanced && l == want[n]
				}
				if balanced {
					for task, n := range got {
						if n != prev[task] && n != joined {
							t.Fatalf("%s: task %v moved %s -> %s, not to the joining node", name, task, prev[task], n)
						}
					}
					if m, w := Moves(prev, got), wantTargets(len(tasks), c.nodes)[joined]; m != w {
						t.Fatalf("%s: moved %d, want the joining node's target %d", name, m, w)
					}
				}
			}
			prev = got
		}
	}
}

// largeCluster is the benchmark's cluster: 100k tasks in 50 topologies of
// 2000 over nodes n000..n099 with 1 to 4 slots.
func largeCluster() ([]TaskRef, []NodeSlots) {
	var tasks []TaskRef
	for i := range 50 {
		tasks = append(tasks, topo(fmt.Sprintf("topology-%02d", i), 2000)...)
	}
	nodes := make([]NodeSlots, 100)
	for i := range nodes {
		nodes[i] = NodeSlots{Name: fmt.Sprintf("n%03d", i), Slots: 1 + i%4}
	}
	return tasks, nodes
}

func TestScheduleLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	tasks, nodes := largeCluster()
	start := time.Now()
	a0 := mustSchedule(t, tasks, nodes, nil)
	t.Logf("100k tasks over 100 nodes from scratch: %v", time.Since(start))
	checkValid(t, tasks, nodes, a0)

	fewer := nodes[:99]
	a1 := mustSchedule(t, tasks, fewer, a0)
	checkValid(t, tasks, fewer, a1)
	checkStable(t, tasks, fewer, a0, a1)

	start = time.Now()
	a2 := mustSchedule(t, tasks, nodes, a1)
	t.Logf("100k tasks, node joins: %v, %d moves", time.Since(start), Moves(a1, a2))
	checkValid(t, tasks, nodes, a2)
	checkStable(t, tasks, nodes, a1, a2)
}

// BenchmarkSchedule schedules 100k tasks over 100 nodes. The baseline,
// measured in the same run, is the least any scheduler does: sort the
// tasks and fill the result map (round robin); x-baseline is the ratio.
func BenchmarkSchedule(b *testing.B) {
	tasks, nodes := largeCluster()
	full := mustSchedule(b, tasks, nodes, nil)
	before := mustSchedule(b, tasks, nodes[1:], nil) // n000 then joins
	baseline := func() {
		ts := slices.Clone(tasks)
		slices.SortFunc(ts, compareTaskRef)
		out := make(map[TaskRef]string, len(ts))
		for i, task := range ts {
			out[task] = nodes[i%len(nodes)].Name
		}
	}
	var base time.Duration
	{
		const rounds = 10
		start := time.Now()
		for range rounds {
			baseline()
		}
		base = time.Since(start) / rounds
	}
	for _, bm := range []struct {
		name  string
		nodes []NodeSlots
		prev  map[TaskRef]string
	}{
		{"scratch", nodes, nil},
		{"steady", nodes, full},
		{"join", nodes, before},
		{"leave", nodes[:99], full},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Schedule(tasks, bm.nodes, bm.prev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(base), "x-baseline")
		})
	}
}

// TestScheduleKeepingLeavesRunningTasksWhereTheyAre: a node that joins
// takes no task of a topology that stays (its tasks would restart there and
// lose their state); it takes the excess of the others, new tasks, and the
// tasks of a node that leaves.
func TestScheduleKeepingLeavesRunningTasksWhereTheyAre(t *testing.T) {
	var tasks []TaskRef
	prev := map[TaskRef]string{}
	for i := range int32(6) {
		for _, topo := range []string{"counts", "mover"} {
			ref := TaskRef{topo, i + 1}
			tasks = append(tasks, ref)
			prev[ref] = []string{"a", "b"}[i%2]
		}
	}
	stay := func(topo string) bool { return topo == "counts" }
	nodes := []NodeSlots{{"a", 1}, {"b", 1}, {"c", 1}}
	next, err := ScheduleKeeping(tasks, nodes, prev, stay)
	if err != nil {
		t.Fatal(err)
	}
	onC := 0
	for ref, node := range next {
		if ref.Topology == "counts" && node != prev[ref] {
			t.Fatalf("task %v of a topology that stays moved %s -> %s", ref, prev[ref], node)
		}
		if node == "c" {
			onC++
		}
	}
	// a and b each hold 6 and target 4: each gives up 2 of mover's.
	if onC != 4 || Moves(prev, next) != 4 {
		t.Fatalf("c took %d tasks (%d moves), want the excess of a and b, 4, all of mover", onC, Moves(prev, next))
	}
	// New tasks go where there is room.
	more := append(slices.Clone(tasks), TaskRef{"new", 1}, TaskRef{"new", 2}, TaskRef{"new", 3})
	next2, err := ScheduleKeeping(more, nodes, next, stay)
	if err != nil {
		t.Fatal(err)
	}
	if Moves(next, next2) != 0 {
		t.Fatalf("placing new tasks moved %d running ones", Moves(next, next2))
	}
	// A node that leaves moves its tasks, staying ones included.
	next3, err := ScheduleKeeping(more, nodes[1:], next2, stay)
	if err != nil {
		t.Fatal(err)
	}
	for ref, node := range next3 {
		if node == "a" {
			t.Fatalf("task %v still on a, which left", ref)
		}
		if next2[ref] != "a" && node != next2[ref] && ref.Topology == "counts" {
			t.Fatalf("task %v of a topology that stays moved off a live node", ref)
		}
	}
	// Without stay it is Schedule.
	plain, _ := Schedule(tasks, nodes, prev)
	keeping, _ := ScheduleKeeping(tasks, nodes, prev, nil)
	if !maps.Equal(plain, keeping) {
		t.Fatal("ScheduleKeeping with a nil stay differs from Schedule")
	}
}
