package spec

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/internal/hint"
	"google.golang.org/protobuf/proto"
)

// Limits checked by Validate.
const (
	// MaxNameLen is the longest topology, component or stream id.
	MaxNameLen = 64
	// MaxParallelism is the most tasks one component may have. It catches
	// typos (20000 for 2) before the scheduler tries to place them.
	MaxParallelism = 10000
	// MaxTaskPairs is the most pairs of tasks a topology's inputs may
	// connect: for each input, the producer's tasks times the consumer's.
	// Every task keeps routing state and, while it sends, a batch for each
	// task it sends to, so memory grows with this product, not with the
	// number of tasks: two components of 10000 tasks each took a node
	// past 11 GB within 30 s before this bound. A million pairs is two
	// components of 1000 tasks, far more than a cluster has cores.
	MaxTaskPairs = 1 << 20
)

// Resolver tells the loader and builders what a Go component class emits:
// a class names code compiled into the gale binary, so only the binary's
// registry knows its output streams. package sdk provides the registry
// implementation (sdk.RegistryResolver); tests use fakes.
//
// Outputs is called from the goroutine that loads or builds the topology,
// once per component that uses a class.
type Resolver interface {
	// Outputs returns the declared output streams of the Go component
	// class of the given kind, or an error such as: unknown bolt class "x"
	// (registered bolts: a, b).
	Outputs(kind galev1.ComponentKind, class string) ([]*galev1.StreamSpec, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(kind galev1.ComponentKind, class string) ([]*galev1.StreamSpec, error)

// Outputs calls f.
func (f ResolverFunc) Outputs(kind galev1.ComponentKind, class string) ([]*galev1.StreamSpec, error) {
	return f(kind, class)
}

// Validate checks a spec and returns every problem found (at most
// MaxErrors), or an empty list. It needs no registry: the outputs of class
// components must already be filled in (as the loader and the builders
// do), which is what lets the coordinator validate a submitted spec for
// classes it does not have. It never modifies s.
//
// The errors carry a Path and a message that names the component and
// field; they have no file position.
func Validate(s *galev1.TopologySpec) ErrorList {
	return validate(s, nil).finish("")
}

// Check resolves the output streams of class components through r,
// storing them in s (replacing any outputs already there: the class's own
// declaration is the truth), then validates s. It is what builders call.
// With a nil r classes are not resolved: their outputs stay as they are
// and inputs from them are not checked against streams and fields.
func Check(s *galev1.TopologySpec, r Resolver) ErrorList {
	return check(s, r, map[int]bool{}).finish("")
}

// check is Check without sorting and truncation, with a set of components
// whose outputs are unknown (the loader adds those whose outputs: failed to
// parse), so that their subscribers get no follow-on errors.
func check(s *galev1.TopologySpec, r Resolver, unresolved map[int]bool) ErrorList {
	if s == nil {
		return ErrorList{{Msg: "topology spec is missing (nil)"}}
	}
	errs := resolve(s, r, unresolved)
	return append(errs, validate(s, unresolved)...)
}

// resolve fills in the outputs of class components.
func resolve(s *galev1.TopologySpec, r Resolver, unresolved map[int]bool) ErrorList {
	var errs ErrorList
	for i, c := range s.GetComponents() {
		impl, ok := c.GetImplementation().(*galev1.ComponentSpec_Class)
		if !ok || impl == nil {
			continue
		}
		if r == nil || impl.Class == "" || kindName(c.Kind) == "component" {
			// Validate reports an empty class or a missing kind; without a
			// resolver the outputs are simply unknown.
			unresolved[i] = true
			continue
		}
		outs, err := callResolver(r, c.Kind, impl.Class)
		if err != nil {
			errs = append(errs, &Error{Path: componentPath(i).Field("class"), Msg: fmt.Sprintf("%s: %v", label(s, i), err)})
			unresolved[i] = true
			c.Outputs = nil
			continue
		}
		c.Outputs = make([]*galev1.StreamSpec, 0, len(outs))
		for _, o := range outs {
			if o != nil {
				c.Outputs = append(c.Outputs, proto.CloneOf(o))
			}
		}
	}
	return errs
}

// callResolver turns a panicking resolver into an error: a bad spec must
// never crash the caller, whatever the resolver does with it.
func callResolver(r Resolver, kind galev1.ComponentKind, class string) (outs []*galev1.StreamSpec, err error) {
	defer func() {
		if v := recover(); v != nil {
			outs, err = nil, fmt.Errorf("resolving %s class %q panicked: %v", kindName(kind), class, v)
		}
	}()
	return r.Outputs(kind, class)
}

// label names component i in messages: "bolt 'split'", or "bolt #2" (the
// second bolt) when it has no usable id.
func label(s *galev1.TopologySpec, i int) string {
	c := s.Components[i]
	kind := kindName(c.GetKind())
	switch {
	case validName(c.GetId()):
		return fmt.Sprintf("%s '%s'", kind, c.GetId())
	case c.GetId() != "":
		return fmt.Sprintf("%s %q", kind, c.GetId())
	}
	n := 0
	for _, o := range s.Components[:i+1] {
		if o.GetKind() == c.GetKind() {
			n++
		}
	}
	return fmt.Sprintf("%s #%d", kind, n)
}

type validator struct {
	s          *galev1.TopologySpec
	errs       ErrorList
	unresolved map[int]bool
	byID       map[string]int // first component with each id
}

func (v *validator) add(p Path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Path: p, Msg: fmt.Sprintf(format, args...)})
}

func validate(s *galev1.TopologySpec, unresolved map[int]bool) ErrorList {
	if s == nil {
		return ErrorList{{Msg: "topology spec is missing (nil)"}}
	}
	v := &validator{s: s, unresolved: unresolved, byID: map[string]int{}}
	v.topology()
	for i := range s.Components {
		v.component(i)
	}
	for i := range s.Components {
		v.inputs(i)
	}
	v.cycles()
	v.taskPairs()
	return v.errs
}

// taskPairs checks the topology against MaxTaskPairs, reporting it at the
// input that connects the most pairs.
func (v *validator) taskPairs() {
	for _, c := range v.s.Components {
		if p := c.GetParallelism(); p < 1 || p > MaxParallelism {
			return // reported already; the product would only repeat it
		}
	}
	tasks := func(c *galev1.ComponentSpec) int64 { return int64(c.GetParallelism()) }
	var total, most int64
	var at Path
	var who, from string
	for i, c := range v.s.Components {
		for k, in := range c.GetInputs() {
			j, ok := v.byID[in.GetComponent()]
			if !ok || v.s.Components[j] == nil {
				continue
			}
			n := tasks(v.s.Components[j]) * tasks(c)
			total += n
			if n > most {
				most, at, who, from = n, componentPath(i).Field("inputs").Index(k), label(v.s, i), in.GetComponent()
			}
		}
	}
	if total > MaxTaskPairs {
		v.add(at, "%s: the topology's inputs connect %d pairs of tasks (this input from '%s' %d), over the limit of %d: every task keeps state and a batch for each task it sends to; give the components fewer tasks",
			who, total, from, most, MaxTaskPairs)
	}
}

func (v *validator) topology() {
	s := v.s
	switch {
	case s.Name == "":
		v.add(Path{}.Field("name"), "topology name is missing")
	case !validName(s.Name):
		v.add(Path{}.Field("name"), "topology name %q is invalid: %s", s.Name, nameRule)
	}
	v.config(Path{}.Field("config"), "", s.Config)

	spouts, kindless := 0, 0
	for i, c := range s.Components {
		if c == nil {
			v.add(componentPath(i), "component #%d is missing (nil)", i+1)
			continue
		}
		if c.Kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
			spouts++
		}
		if kindName(c.Kind) == "component" {
			kindless++ // reported with the component; it may be the spout
		}
		if _, dup := v.byID[c.Id]; !dup {
			v.byID[c.Id] = i
		}
	}
	if spouts == 0 && kindless == 0 {
		v.add(Path{}.Field("components"), "topology has no spout: at least one spout is required")
	}
}

// config checks the keys of a config map (a component's when who is
// not ""). A key of the user's may hold any value; one of Gale's own
// (topology.*) must be one Gale knows, with a value of its kind.
func (v *validator) config(p Path, who string, cfg map[string]*galev1.Value) {
	if _, ok := cfg[""]; ok {
		v.add(p.Key(""), "%sconfig has an empty key", who)
	}
	for _, k := range sortedKeys(cfg) {
		if msg := checkRuntimeKey(k, cfg[k], who != ""); msg != "" {
			v.add(p.Key(k), "%s%s", who, msg)
		}
	}
}

func (v *validator) component(i int) {
	c := v.s.Components[i]
	if c == nil {
		return
	}
	p := componentPath(i)
	who := label(v.s, i)

	// id
	switch {
	case c.Id == "":
		v.add(p.Field("id"), "%s has no id", who)
	case !validName(c.Id):
		v.add(p.Field("id"), "%s: id is invalid: %s", who, nameRule)
	case strings.HasPrefix(c.Id, "__"):
		v.add(p.Field("id"), "%s: ids starting with \"__\" are reserved for system components", who)
	}
	if first := v.byID[c.Id]; first != i && c.Id != "" {
		v.add(p.Field("id"), "duplicate component id '%s': already used by the %s declared first", c.Id, kindName(v.s.Components[first].Kind))
	}

	// kind
	if kindName(c.Kind) == "component" {
		if c.Kind == galev1.ComponentKind_COMPONENT_KIND_UNSPECIFIED {
			v.add(p.Field("kind"), "%s has no kind: it must be a spout or a bolt", who)
		} else {
			v.add(p.Field("kind"), "%s has an unknown kind %d: it must be a spout or a bolt", who, int32(c.Kind))
		}
	}

	// parallelism
	switch {
	case c.Parallelism < 1:
		v.add(p.Field("parallelism"), "%s: parallelism must be at least 1, got %d", who, c.Parallelism)
	case c.Parallelism > MaxParallelism:
		v.add(p.Field("parallelism"), "%s: parallelism must be at most %d, got %d", who, MaxParallelism, c.Parallelism)
	}

	// implementation
	switch impl := c.Implementation.(type) {
	case nil:
		v.add(p.Field("implementation"), "%s has no implementation: give it a class (a registered Go component), an external command (run) or attached", who)
	case *galev1.ComponentSpec_Class:
		if impl == nil || impl.Class == "" {
			v.add(p.Field("class"), "%s: class is empty", who)
		}
	case *galev1.ComponentSpec_Command:
		var cmd *galev1.ExternalCommand
		if impl != nil {
			cmd = impl.Command
		}
		v.command(p.Field("command"), who, cmd)
	case *galev1.ComponentSpec_Attached:
		// Any token, including none, is fine.
	}

	v.outputs(i)
	v.config(p.Field("config"), who+": ", c.Config)

	switch c.Kind {
	case galev1.ComponentKind_COMPONENT_KIND_SPOUT:
		if len(c.Inputs) > 0 {
			v.add(p.Field("inputs"), "%s has inputs, but a spout cannot subscribe to streams (make it a bolt)", who)
		}
	case galev1.ComponentKind_COMPONENT_KIND_BOLT:
		if len(c.Inputs) == 0 {
			v.add(p.Field("inputs"), "%s has no inputs: a bolt must subscribe to at least one stream", who)
		}
	}
}

func (v *validator) command(p Path, who string, cmd *galev1.ExternalCommand) {
	switch {
	case len(cmd.GetArgv()) == 0:
		v.add(p.Field("argv"), "%s: the external command is empty: give the program and its arguments, e.g. [python3, bolt.py]", who)
	case cmd.Argv[0] == "":
		v.add(p.Field("argv").Index(0), "%s: the external command's program (argv[0]) is empty", who)
	}
	switch cmd.GetProtocol() {
	case galev1.ExternalProtocol_EXTERNAL_PROTOCOL_UNSPECIFIED, galev1.ExternalProtocol_EXTERNAL_PROTOCOL_ATTACH,
		galev1.ExternalProtocol_EXTERNAL_PROTOCOL_STORM_MULTILANG:
	default:
		v.add(p.Field("protocol"), "%s: unknown external protocol %d", who, int32(cmd.GetProtocol()))
	}
	keys := make([]string, 0, len(cmd.GetEnv()))
	for k := range cmd.GetEnv() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.add(p.Field("env").Key(k), "%s: invalid environment variable name %q", who, k)
		}
	}
}

func (v *validator) outputs(i int) {
	c := v.s.Components[i]
	p := componentPath(i).Field("outputs")
	who := label(v.s, i)
	seen := map[string]bool{}
	for j, st := range c.Outputs {
		sp := p.Index(j)
		if st == nil {
			v.add(sp, "%s: output stream #%d is missing (nil)", who, j+1)
			continue
		}
		switch {
		case st.Id == "":
			v.add(sp.Field("id"), "%s: output stream #%d has no id", who, j+1)
		case !validName(st.Id):
			v.add(sp.Field("id"), "%s: output stream id %q is invalid: %s", who, st.Id, nameRule)
		case strings.HasPrefix(st.Id, "__"):
			v.add(sp.Field("id"), "%s: output stream '%s': stream ids starting with \"__\" are reserved for system streams", who, st.Id)
		case seen[st.Id]:
			v.add(sp.Field("id"), "%s declares output stream '%s' twice", who, st.Id)
		}
		seen[st.Id] = true
		fields := map[string]bool{}
		for f, name := range st.Fields {
			switch {
			case name == "":
				v.add(sp.Field("fields").Index(f), "%s: output stream '%s': field #%d has an empty name", who, st.Id, f+1)
			case fields[name]:
				v.add(sp.Field("fields").Index(f), "%s: output stream '%s' declares field '%s' twice", who, st.Id, name)
			}
			fields[name] = true
		}
	}
}

// streamOf finds the stream a component declares under id.
func streamOf(c *galev1.ComponentSpec, id string) *galev1.StreamSpec {
	for _, st := range c.Outputs {
		if st != nil && st.Id == id {
			return st
		}
	}
	return nil
}

func needsFields(t galev1.GroupingType) bool {
	return t == galev1.GroupingType_GROUPING_TYPE_FIELDS || t == galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY
}

func (v *validator) inputs(i int) {
	c := v.s.Components[i]
	if c == nil || c.Kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
		// A spout's inputs are reported once, as a whole, in component.
		return
	}
	who := label(v.s, i)
	subscribed := map[[2]string]int{}
	for k, in := range c.Inputs {
		p := componentPath(i).Field("inputs").Index(k)
		if in == nil {
			v.add(p, "%s: input #%d is missing (nil)", who, k+1)
			continue
		}
		from, stream := in.Component, in.Stream
		if stream == "" {
			stream = "default"
		}
		gt, fields := in.GetGrouping().GetType(), in.GetGrouping().GetFields()
		gname := GroupingName(gt)
		src := "'" + from + "'"
		if from == "" {
			src = fmt.Sprintf("input #%d", k+1)
		}

		// The grouping on its own.
		switch {
		case gt == galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED:
			v.add(p.Field("grouping").Field("type"), "%s: input from %s has no grouping: use one of %s", who, src, groupingList())
		case !knownGrouping(gt):
			v.add(p.Field("grouping").Field("type"), "%s: input from %s has an %s", who, src, gname)
		case needsFields(gt) && len(fields) == 0:
			v.add(p.Field("grouping").Field("fields"), "%s: %s grouping on %s needs at least one field", who, gname, src)
		case !needsFields(gt) && len(fields) > 0:
			v.add(p.Field("grouping").Field("fields"), "%s: %s grouping on %s takes no fields (got %s); only fields and partial_key groupings do", who, gname, src, strings.Join(fields, ", "))
		}

		// The source component and stream.
		if from == "" {
			v.add(p.Field("component"), "%s: input #%d has no source component", who, k+1)
			continue
		}
		si, ok := v.byID[from]
		if !ok {
			msg := fmt.Sprintf("%s: input from unknown component '%s'", who, from)
			if s := hint.Suggest(from, sortedKeys(v.byID)); s != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", s)
			}
			v.add(p.Field("component"), "%s", msg)
			continue
		}
		key := [2]string{from, stream}
		if first, dup := subscribed[key]; dup {
			v.add(p, "%s subscribes to '%s' stream '%s' twice (inputs #%d and #%d)", who, from, stream, first+1, k+1)
		} else {
			subscribed[key] = k
		}
		if v.unresolved[si] {
			continue
		}
		st := streamOf(v.s.Components[si], stream)
		if st == nil {
			v.add(p.Field("stream"), "%s: input from '%s': '%s' has no output stream '%s' (%s)", who, from, from, stream, declaredStreams(v.s.Components[si]))
			continue
		}
		if needsFields(gt) {
			have := map[string]bool{}
			for _, f := range st.Fields {
				have[f] = true
			}
			seen := map[string]bool{}
			for f, name := range fields {
				fp := p.Field("grouping").Field("fields").Index(f)
				switch {
				case !have[name]:
					v.add(fp, "%s: %s grouping on '%s': stream '%s' has no field '%s' (its fields: %s)", who, gname, from, stream, name, fieldList(st.Fields))
				case seen[name]:
					v.add(fp, "%s: %s grouping on '%s' lists field '%s' twice", who, gname, from, name)
				}
				seen[name] = true
			}
		}
		switch {
		case gt == galev1.GroupingType_GROUPING_TYPE_DIRECT && !st.Direct:
			v.add(p.Field("grouping").Field("type"), "%s: direct grouping needs a direct stream, but stream '%s' of '%s' is not direct", who, stream, from)
		case st.Direct && knownGrouping(gt) && gt != galev1.GroupingType_GROUPING_TYPE_DIRECT:
			v.add(p.Field("grouping").Field("type"), "%s: stream '%s' of '%s' is a direct stream: subscribe to it with direct grouping, not %s", who, stream, from, gname)
		}
	}
}

func declaredStreams(c *galev1.ComponentSpec) string {
	var ids []string
	for _, st := range c.Outputs {
		if st != nil {
			ids = append(ids, st.Id)
		}
	}
	if len(ids) == 0 {
		return "it declares no output streams"
	}
	return "it declares: " + joinNames(ids, 20)
}

func fieldList(fields []string) string {
	if len(fields) == 0 {
		return "none"
	}
	return joinNames(fields, 20)
}

// cycles reports every cycle among components. Tuples in a cycle would
// circle until they time out and, with acking, make every tree fail;
// Storm rejects them as well. Each strongly connected component is
// reported once, with one shortest cycle through its first-declared
// component, at that component's input that closes the cycle.
func (v *validator) cycles() {
	n := len(v.s.Components)
	out := make([][]int, n) // out[a] = components subscribing to a
	self := make([]int, n)  // input index of a self-subscription, or -1
	for i := range self {
		self[i] = -1
	}
	for i, c := range v.s.Components {
		if c == nil || c.Kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
			continue
		}
		for k, in := range c.Inputs {
			src, ok := v.byID[in.GetComponent()]
			if !ok {
				continue
			}
			if src == i {
				if self[i] < 0 {
					self[i] = k
				}
				continue
			}
			if !slices.Contains(out[src], i) {
				out[src] = append(out[src], i)
			}
		}
	}
	for i := range n {
		if self[i] >= 0 {
			id := v.s.Components[i].Id
			v.add(componentPath(i).Field("inputs").Index(self[i]).Field("component"),
				"%s subscribes to itself: cycle: %s -> %s", label(v.s, i), id, id)
		}
	}
	for _, scc := range sccs(out) {
		if len(scc) < 2 {
			continue
		}
		start := slices.Min(scc)
		cyc := shortestCycle(out, scc, start)
		last := cyc[len(cyc)-2]
		k := 0
		for j, in := range v.s.Components[start].Inputs {
			if src, ok := v.byID[in.GetComponent()]; ok && src == last {
				k = j
				break
			}
		}
		ids := make([]string, len(cyc))
		for j, c := range cyc {
			ids[j] = v.s.Components[c].Id
		}
		v.add(componentPath(start).Field("inputs").Index(k).Field("component"),
			"%s: cycle: %s", label(v.s, start), strings.Join(ids, " -> "))
	}
}

// sccs returns the strongly connected components of the graph, each
// sorted, in order of their smallest node. It is Tarjan's algorithm made
// iterative, so a long chain of bolts cannot exhaust the stack.
func sccs(out [][]int) [][]int {
	n := len(out)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var result [][]int
	var st []int
	next := 0
	type frame struct{ node, edge int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		st = append(st, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			u := f.node
			if f.edge < len(out[u]) {
				w := out[u][f.edge]
				f.edge++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					st = append(st, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] {
					low[u] = min(low[u], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].node
				low[p] = min(low[p], low[u])
			}
			if low[u] == index[u] {
				var comp []int
				for {
					w := st[len(st)-1]
					st = st[:len(st)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == u {
						break
					}
				}
				slices.Sort(comp)
				result = append(result, comp)
			}
		}
	}
	slices.SortFunc(result, func(a, b []int) int { return a[0] - b[0] })
	return result
}

// shortestCycle finds a shortest path start -> ... -> start inside one
// strongly connected component, by breadth-first search. The result starts
// and ends with start.
func shortestCycle(out [][]int, scc []int, start int) []int {
	in := map[int]bool{}
	for _, c := range scc {
		in[c] = true
	}
	parent := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, w := range out[u] {
			if w == start {
				var path []int
				for x := u; x != -1; x = parent[x] {
					path = append(path, x)
				}
				slices.Reverse(path)
				return append(path, start)
			}
			if _, seen := parent[w]; !seen && in[w] {
				parent[w] = u
				queue = append(queue, w)
			}
		}
	}
	return []int{start, start} // unreachable for a real SCC
}
