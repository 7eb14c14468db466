package router

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

const (
	gShuffle        = galev1.GroupingType_GROUPING_TYPE_SHUFFLE
	gFields         = galev1.GroupingType_GROUPING_TYPE_FIELDS
	gAll            = galev1.GroupingType_GROUPING_TYPE_ALL
	gGlobal         = galev1.GroupingType_GROUPING_TYPE_GLOBAL
	gDirect         = galev1.GroupingType_GROUPING_TYPE_DIRECT
	gLocalOrShuffle = galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE
	gPartialKey     = galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY
	gNone           = galev1.GroupingType_GROUPING_TYPE_NONE
)

func mustNew(t testing.TB, gt galev1.GroupingType, cfg Config) Grouper {
	t.Helper()
	g, err := New(gt, cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", GroupingName(gt), err)
	}
	return g
}

// choose calls Choose once and returns a copy of the result.
func choose(g Grouper, values []sdk.Value, direct int) []int {
	return slices.Clone(g.Choose(nil, values, direct))
}

func word(s string) []sdk.Value { return []sdk.Value{sdk.String(s), sdk.Int(1)} }

// TestGroupings checks what each grouping returns for a few tuples, table
// driven; distribution properties have their own tests below.
func TestGroupings(t *testing.T) {
	type call struct {
		values []sdk.Value
		direct int
		want   []int // nil: any one index in range
	}
	for _, tc := range []struct {
		name  string
		gt    galev1.GroupingType
		cfg   Config
		calls []call
	}{
		{"all", gAll, Config{NumTasks: 4}, []call{
			{word("a"), -1, []int{0, 1, 2, 3}},
			{word("b"), 2, []int{0, 1, 2, 3}},
		}},
		{"all one task", gAll, Config{NumTasks: 1}, []call{{word("a"), -1, []int{0}}}},
		{"global", gGlobal, Config{NumTasks: 5, Seed: 3}, []call{
			{word("a"), -1, []int{0}},
			{word("b"), 4, []int{0}},
		}},
		{"direct in range", gDirect, Config{NumTasks: 3}, []call{
			{word("a"), 0, []int{0}},
			{word("a"), 2, []int{2}},
		}},
		{"direct out of range", gDirect, Config{NumTasks: 3}, []call{
			{word("a"), -1, []int{}},
			{word("a"), 3, []int{}},
			{word("a"), 1 << 40, []int{}},
		}},
		{"fields", gFields, Config{NumTasks: 1000, FieldIdx: []int{0}}, []call{
			// From the vectors: "string a" goes to bucket 435 of 1000.
			{[]sdk.Value{sdk.String("a"), sdk.Int(9)}, -1, []int{435}},
			{[]sdk.Value{sdk.String("a"), sdk.Int(10)}, 7, []int{435}},
		}},
		{"fields second field", gFields, Config{NumTasks: 1000, FieldIdx: []int{1}}, []call{
			// From the vectors: "int -1" goes to bucket 143 of 1000.
			{[]sdk.Value{sdk.String("x"), sdk.Int(-1)}, -1, []int{143}},
		}},
		{"partial key one task", gPartialKey, Config{NumTasks: 1, FieldIdx: []int{0}}, []call{
			{word("a"), -1, []int{0}},
			{word("a"), -1, []int{0}},
		}},
		{"shuffle one task", gShuffle, Config{NumTasks: 1, Seed: 99}, []call{
			{word("a"), -1, []int{0}},
			{word("b"), -1, []int{0}},
		}},
		{"none", gNone, Config{NumTasks: 3}, []call{{word("a"), -1, nil}}},
		{"local or shuffle, one local", gLocalOrShuffle, Config{NumTasks: 4, Local: []bool{false, false, true, false}}, []call{
			{word("a"), -1, []int{2}},
			{word("b"), -1, []int{2}},
			{word("c"), 0, []int{2}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNew(t, tc.gt, tc.cfg)
			for i, c := range tc.calls {
				got := choose(g, c.values, c.direct)
				switch {
				case c.want == nil:
					if len(got) != 1 || got[0] < 0 || got[0] >= tc.cfg.NumTasks {
						t.Errorf("call %d: got %v, want one task in [0, %d)", i, got, tc.cfg.NumTasks)
					}
				case !slices.Equal(got, c.want):
					t.Errorf("call %d: got %v, want %v", i, got, c.want)
				}
			}
		})
	}
}

// TestChooseAppends checks that Choose appends to dst and keeps what is
// there.
func TestChooseAppends(t *testing.T) {
	for _, gt := range []galev1.GroupingType{gShuffle, gFields, gAll, gGlobal, gDirect, gLocalOrShuffle, gPartialKey, gNone} {
		g := mustNew(t, gt, Config{NumTasks: 3, FieldIdx: []int{0}})
		dst := g.Choose([]int{-7}, word("a"), 1)
		if len(dst) < 2 || dst[0] != -7 {
			t.Errorf("%s: Choose([-7]) = %v, want -7 followed by the choice", GroupingName(gt), dst)
		}
	}
}

// TestShuffleEven: over every cycle of NumTasks tuples each task gets
// exactly one, and over any window of NumTasks tuples each gets 1±1.
func TestShuffleEven(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8, 13} {
		for _, seed := range []uint64{0, 1, 7, 1 << 40} {
			g := mustNew(t, gShuffle, Config{NumTasks: n, Seed: seed})
			const cycles = 200
			seq := make([]int, 0, cycles*n)
			for range cycles * n {
				seq = g.Choose(seq, nil, -1)
			}
			for c := range cycles {
				cycle := slices.Clone(seq[c*n : (c+1)*n])
				slices.Sort(cycle)
				for i, task := range cycle {
					if task != i {
						t.Fatalf("n=%d seed=%d: cycle %d is not a permutation: %v", n, seed, c, seq[c*n:(c+1)*n])
					}
				}
			}
			counts := make([]int, n)
			for start := 0; start+n <= len(seq); start++ {
				clear(counts)
				for _, task := range seq[start : start+n] {
					counts[task]++
				}
				for task, k := range counts {
					if k < 0 || k > 2 {
						t.Fatalf("n=%d seed=%d: window at %d gives task %d %d tuples, want 1±1", n, seed, start, task, k)
					}
				}
			}
			if n >= 5 {
				// The order is reshuffled: not every cycle is the first.
				same := 0
				for c := 1; c < cycles; c++ {
					if slices.Equal(seq[:n], seq[c*n:(c+1)*n]) {
						same++
					}
				}
				if same > cycles/10 {
					t.Errorf("n=%d seed=%d: %d of %d cycles repeat the first order", n, seed, same, cycles)
				}
			}
		}
	}
}

// TestShuffleNotLockStep: emitters with different seeds start on
// different tasks and do not follow the same sequence.
func TestShuffleNotLockStep(t *testing.T) {
	const n, emitters = 8, 16
	firsts := map[int]int{}
	seqs := map[string]bool{}
	for seed := range uint64(emitters) {
		g := mustNew(t, gShuffle, Config{NumTasks: n, Seed: seed})
		var seq []int
		for range 4 * n {
			seq = g.Choose(seq, nil, -1)
		}
		firsts[seq[0]]++
		seqs[fmt.Sprint(seq)] = true
	}
	for task, k := range firsts {
		if k > 2*emitters/n {
			t.Errorf("%d of %d emitters start at task %d", k, emitters, task)
		}
	}
	if len(seqs) != emitters {
		t.Errorf("only %d distinct sequences among %d emitters", len(seqs), emitters)
	}
}

// TestFieldsSameKeySameTask: equal keys go to the same task, from any
// emitter (any seed), whatever the other fields hold.
func TestFieldsSameKeySameTask(t *testing.T) {
	const n = 7
	g1 := mustNew(t, gFields, Config{NumTasks: n, FieldIdx: []int{0, 2}, Seed: 1})
	g2 := mustNew(t, gFields, Config{NumTasks: n, FieldIdx: []int{0, 2}, Seed: 2})
	seen := map[string]int{}
	tasks := map[int]bool{}
	for i := range 5000 {
		key := "k" + strconv.Itoa(i%500)
		vals := []sdk.Value{sdk.String(key), sdk.Int(int64(i)), sdk.Bool(i%1000 < 500)}
		g := g1
		if i%2 == 1 {
			g = g2
		}
		task := choose(g, vals, -1)[0]
		tasks[task] = true
		k := key + "/" + vals[2].String()
		if prev, ok := seen[k]; ok && prev != task {
			t.Fatalf("key %s went to task %d, then to %d", k, prev, task)
		}
		seen[k] = task
	}
	if len(tasks) != n {
		t.Errorf("500 keys used %d of %d tasks", len(tasks), n)
	}
}

// TestPartialKey checks the two candidates of each key and the choice
// between them.
func TestPartialKey(t *testing.T) {
	const n = 10
	g := mustNew(t, gPartialKey, Config{NumTasks: n, FieldIdx: []int{0}})
	sent := make([]uint64, n)
	for i := range 10000 {
		vals := []sdk.Value{sdk.String("key" + strconv.Itoa(i%37))}
		h := FieldsHash(vals, []int{0})
		c1, c2 := JumpHash(h, n), JumpHash(mix64(h^0x9e3779b97f4a7c15), n)
		want := c1
		if sent[c2] < sent[c1] {
			want = c2
		}
		got := choose(g, vals, -1)
		if len(got) != 1 || got[0] != want {
			t.Fatalf("tuple %d: got %v, want [%d] (candidates %d, %d; sent %v)", i, got, want, c1, c2, sent)
		}
		sent[want]++
	}
}

// TestPartialKeySpreadsSkew: with a Zipf-skewed key distribution, the
// busiest task gets fewer tuples under partial-key than under fields
// grouping.
func TestPartialKeySpreadsSkew(t *testing.T) {
	const n, tuples = 8, 100_000
	r := rand.New(rand.NewPCG(42, 43))
	zipf := rand.NewZipf(r, 1.2, 1, 9999)
	fields := mustNew(t, gFields, Config{NumTasks: n, FieldIdx: []int{0}})
	pkg := mustNew(t, gPartialKey, Config{NumTasks: n, FieldIdx: []int{0}})
	fLoad, pLoad := make([]int, n), make([]int, n)
	var dst []int
	vals := make([]sdk.Value, 1)
	for range tuples {
		vals[0] = sdk.Int(int64(zipf.Uint64()))
		dst = fields.Choose(dst[:0], vals, -1)
		fLoad[dst[0]]++
		dst = pkg.Choose(dst[:0], vals, -1)
		pLoad[dst[0]]++
	}
	fMax, pMax := slices.Max(fLoad), slices.Max(pLoad)
	t.Logf("max task load of %d tuples over %d tasks (mean %d): fields %d %v, partial-key %d %v",
		tuples, n, tuples/n, fMax, fLoad, pMax, pLoad)
	if pMax >= fMax {
		t.Errorf("partial-key max load %d, fields %d: want partial-key lower", pMax, fMax)
	}
}

func TestLocalOrShuffle(t *testing.T) {
	t.Run("only local tasks", func(t *testing.T) {
		local := []bool{false, true, false, true, true, false}
		g := mustNew(t, gLocalOrShuffle, Config{NumTasks: len(local), Local: local, Seed: 5})
		counts := make([]int, len(local))
		for range 300 {
			counts[choose(g, nil, -1)[0]]++
		}
		for task, k := range counts {
			if local[task] && k != 100 {
				t.Errorf("local task %d got %d of 300 tuples, want 100", task, k)
			}
			if !local[task] && k != 0 {
				t.Errorf("remote task %d got %d tuples, want 0", task, k)
			}
		}
	})
	for name, local := range map[string][]bool{"no local task": {false, false, false}, "nil Local": nil} {
		t.Run(name, func(t *testing.T) {
			g := mustNew(t, gLocalOrShuffle, Config{NumTasks: 3, Local: local})
			counts := make([]int, 3)
			for range 300 {
				counts[choose(g, nil, -1)[0]]++
			}
			if !slices.Equal(counts, []int{100, 100, 100}) {
				t.Errorf("counts %v, want every task 100", counts)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		gt   galev1.GroupingType
		cfg  Config
		want string // in the message
	}{
		{"unspecified", galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED, Config{NumTasks: 1}, "unspecified"},
		{"unknown type", galev1.GroupingType(42), Config{NumTasks: 1}, "unknown grouping type 42"},
		{"zero tasks", gShuffle, Config{}, "NumTasks is 0"},
		{"negative tasks", gAll, Config{NumTasks: -2}, "NumTasks is -2"},
		{"fields without FieldIdx", gFields, Config{NumTasks: 2}, "FieldIdx is empty"},
		{"partial key without FieldIdx", gPartialKey, Config{NumTasks: 2, FieldIdx: []int{}}, "FieldIdx is empty"},
		{"negative field index", gFields, Config{NumTasks: 2, FieldIdx: []int{0, -1}}, "FieldIdx[1] is -1"},
		{"Local too short", gLocalOrShuffle, Config{NumTasks: 3, Local: []bool{true}}, "Local has 1 entries"},
		{"Local too long", gShuffle, Config{NumTasks: 1, Local: []bool{true, false}}, "Local has 2 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.gt, tc.cfg)
			if err == nil {
				t.Fatalf("New returned %T and no error", g)
			}
			if !errors.Is(err, ErrInvalidGrouping) {
				t.Errorf("error %q does not wrap ErrInvalidGrouping", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestNewCopiesConfig: changing the caller's FieldIdx afterwards does not
// change the grouping.
func TestNewCopiesConfig(t *testing.T) {
	idx := []int{0}
	g := mustNew(t, gFields, Config{NumTasks: 1000, FieldIdx: idx})
	idx[0] = 1
	if got := choose(g, []sdk.Value{sdk.String("a"), sdk.Int(-1)}, -1); !slices.Equal(got, []int{435}) {
		t.Errorf("got %v after the caller changed FieldIdx, want [435]", got)
	}
}

func TestGroupingNames(t *testing.T) {
	for gt, name := range map[galev1.GroupingType]string{
		gShuffle: "shuffle", gFields: "fields", gAll: "all", gGlobal: "global", gDirect: "direct",
		gLocalOrShuffle: "local_or_shuffle", gPartialKey: "partial_key", gNone: "none",
	} {
		if got := GroupingName(gt); got != name {
			t.Errorf("GroupingName(%v) = %q, want %q", gt, got, name)
		}
		for _, spelling := range []string{name, strings.ToUpper(name), strings.ReplaceAll(name, "_", "-")} {
			got, err := ParseGrouping(spelling)
			if err != nil || got != gt {
				t.Errorf("ParseGrouping(%q) = %v, %v; want %v", spelling, got, err, gt)
			}
		}
	}
	if got := GroupingName(galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED); got != "unspecified" {
		t.Errorf("GroupingName(UNSPECIFIED) = %q", got)
	}
	if got := GroupingName(galev1.GroupingType(42)); got != "grouping(42)" {
		t.Errorf("GroupingName(42) = %q", got)
	}
	for _, bad := range []string{"", "unspecified", "shuffel", "GROUPING_TYPE_SHUFFLE", "local or shuffle"} {
		gt, err := ParseGrouping(bad)
		if err == nil {
			t.Errorf("ParseGrouping(%q) = %v, want an error", bad, gt)
			continue
		}
		if !errors.Is(err, ErrInvalidGrouping) {
			t.Errorf("ParseGrouping(%q): error %q does not wrap ErrInvalidGrouping", bad, err)
		}
		for _, name := range []string{"shuffle", "fields", "all", "global", "direct", "local_or_shuffle", "partial_key", "none"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseGrouping(%q): error %q does not list %q", bad, err, name)
			}
		}
	}
}

// TestChooseDoesNotAllocate: with room in dst, no grouping allocates.
func TestChooseDoesNotAllocate(t *testing.T) {
	vals := word("allocation")
	for _, gt := range []galev1.GroupingType{gShuffle, gFields, gAll, gGlobal, gDirect, gLocalOrShuffle, gPartialKey, gNone} {
		g := mustNew(t, gt, Config{NumTasks: 16, FieldIdx: []int{0, 1}, Local: make([]bool, 16), Seed: 3})
		dst := make([]int, 0, 16)
		if n := testing.AllocsPerRun(1000, func() { dst = g.Choose(dst[:0], vals, 3) }); n != 0 {
			t.Errorf("%s: Choose allocates %.1f times per call, want 0", GroupingName(gt), n)
		}
	}
}

var chooseSink []int

// BenchmarkChoose measures Choose per grouping over 8 tasks (and fields
// over 2, the word count benchmark's count tasks), and reports
// its cost relative to a buffered channel send and receive measured in the
// same run (the per-tuple cost of the in-process path it sits on).
func BenchmarkChoose(b *testing.B) {
	keys := keyWords(1024)
	type choice struct {
		gt    galev1.GroupingType
		tasks int
	}
	choices := []choice{{gShuffle, 8}, {gFields, 8}, {gFields, 2}, {gAll, 8}, {gGlobal, 8}, {gDirect, 8}, {gLocalOrShuffle, 8}, {gPartialKey, 8}}
	for _, c := range choices {
		name := GroupingName(c.gt)
		if c.tasks != 8 {
			name = fmt.Sprintf("%s-%d-tasks", name, c.tasks)
		}
		b.Run(name, func(b *testing.B) {
			local := []bool{true, false, true, false, true, false, true, false}[:c.tasks]
			g := mustNew(b, c.gt, Config{NumTasks: c.tasks, FieldIdx: []int{0}, Local: local, Seed: 1})
			ch := make(chan int, 128)
			start := time.Now()
			for i := range b.N {
				ch <- i
				<-ch
			}
			baseline := time.Since(start)
			dst := make([]int, 0, 8)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				dst = g.Choose(dst[:0], keys[i&1023], i&7)
			}
			b.StopTimer()
			chooseSink = dst
			b.ReportMetric(float64(b.Elapsed())/float64(baseline), "x-chan")
		})
	}
}
