package spec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/internal/hint"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
)

// Limits that keep a broken or hostile file from exhausting memory or time.
const (
	// MaxFileSize is the largest topology file Load and Parse accept.
	MaxFileSize = 4 << 20
	// maxVisits bounds the YAML nodes the loader walks, counting a node
	// again each time an alias repeats it ("billion laughs").
	maxVisits = 1 << 18
	// maxRefineLines bounds the files whose syntax errors get their line
	// refined by re-parsing prefixes (see syntaxError).
	maxRefineLines = 20000
)

// recoverPanics turns a panic while loading into an "internal error"
// ErrorList, so a bug here never shows a user a stack trace. The fuzz test
// switches it off so that such bugs do show.
var recoverPanics = true

// Keys accepted in each kind of YAML map, in the order the messages list
// them.
var (
	topKeys       = []string{"name", "config", "spouts", "bolts", "streams"}
	componentKeys = []string{"id", "class", "run", "dir", "env", "protocol", "attached", "parallelism", "config", "outputs", "inputs"}
	inputKeys     = []string{"from", "stream", "grouping", "fields"}
	outputKeys    = []string{"fields", "direct"}
	attachedKeys  = []string{"token"}
	streamKeys    = []string{"name", "from", "to", "grouping"}
	fluxGroupKeys = []string{"type", "args", "streamId"}
)

// keyHints maps keys of other formats (mostly Apache Storm Flux) to ours,
// for "did you mean" hints that edit distance would not find.
var keyHints = map[string]string{
	"className":  "class",
	"command":    "run",
	"argv":       "run",
	"numTasks":   "parallelism",
	"source":     "from",
	"streamId":   "stream",
	"args":       "fields",
	"type":       "grouping",
	"components": "spouts",
	"fields":     "args",
}

// Load reads a topology file and returns its spec; see Parse. An I/O
// error is returned wrapped as is (errors.Is(err, fs.ErrNotExist) works); a
// bad spec as an ErrorList.
func Load(path string, r Resolver, overrides map[string]*galev1.Value) (*galev1.TopologySpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("topology file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("topology file: %w", err)
	}
	s, err := Parse(path, data, r, overrides)
	if err != nil {
		return nil, err
	}
	if err := resolveDirs(s, filepath.Dir(path)); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveDirs makes the working directories of external commands absolute:
// relative to the topology file's folder, which is also the default. A
// spec submitted to a cluster then says where the code is without the
// file.
func resolveDirs(s *galev1.TopologySpec, base string) error {
	for _, c := range s.GetComponents() {
		cmd := c.GetCommand()
		if cmd == nil || filepath.IsAbs(cmd.GetDir()) {
			continue
		}
		dir, err := filepath.Abs(filepath.Join(base, cmd.GetDir()))
		if err != nil {
			return fmt.Errorf("component %s: dir %q: %w", c.GetId(), cmd.GetDir(), err)
		}
		cmd.Dir = dir
	}
	return nil
}

// Parse reads a topology from YAML (the format is in FORMAT.md); file names
// the source in errors and in the spec's Source. Classes are resolved
// through r (nil leaves their outputs unknown and unchecked), overrides
// (from --conf flags) replace topology config keys, and the result is
// checked with the same rules as Validate.
//
// The components are the spouts, then the bolts, in file order. On
// failure the error is an ErrorList with every problem found (up to
// MaxErrors), each with the file, line and column of the offending YAML
// node. Parse never panics, whatever the input.
func Parse(file string, data []byte, r Resolver, overrides map[string]*galev1.Value) (s *galev1.TopologySpec, err error) {
	l := &loader{file: file, locs: map[string]*yaml.Node{}, unresolved: map[int]bool{}}
	if recoverPanics {
		defer func() {
			if v := recover(); v != nil {
				s, err = nil, ErrorList{{File: file, Msg: fmt.Sprintf("internal error while reading the topology (please report it): %v", v)}}
			}
		}()
	}
	s = l.topology(data)
	if s != nil && !l.fatal {
		for k, v := range overrides {
			if s.Config == nil {
				s.Config = map[string]*galev1.Value{}
			}
			if v == nil {
				v = &galev1.Value{}
			}
			s.Config[k] = proto.CloneOf(v)
		}
		for _, e := range check(s, r, l.unresolved) {
			if l.tainted(e.Path) {
				continue
			}
			if k, ok := configKey(e.Path); ok && overrides[k] != nil {
				e.Msg = "--conf: " + e.Msg // the value came from the command line, not the file
			} else {
				l.locate(e)
			}
			l.errs = append(l.errs, e)
		}
	}
	if len(l.errs) > 0 {
		return nil, l.errs.finish(file)
	}
	return s, nil
}

// configKey returns the key of the topology config entry p points at.
func configKey(p Path) (string, bool) {
	if len(p) == 2 && p[0] == (Step{Kind: FieldStep, Name: "config"}) && p[1].Kind == KeyStep {
		return p[1].Name, true
	}
	return "", false
}

// loader turns a YAML document into a TopologySpec. Along the way it
// remembers the yaml.Node each value came from, keyed by the value's
// Path, so that errors found later on the proto (by check) can be given
// the right line and column.
type loader struct {
	file string
	errs ErrorList
	// locs maps Path.String() to the node to point at for that path.
	locs map[string]*yaml.Node
	// taints are paths where the loader already reported an error; errors
	// that check finds at or under them are follow-on errors (a bad
	// grouping name leaves the grouping unset, ...) and are dropped.
	taints []Path
	// unresolved are components whose outputs are unknown (a bad outputs:
	// map); inputs from them are not checked against streams.
	unresolved map[int]bool
	visits     int
	fatal      bool // the document could not be read; skip validation
}

// report records an error at node n (nil: no position). With taint, p
// also marks where follow-on errors are to be dropped.
func (l *loader) report(n *yaml.Node, p Path, taint bool, format string, args ...any) {
	e := &Error{File: l.file, Path: p, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	l.errs = append(l.errs, e)
	if taint {
		l.taints = append(l.taints, p)
	}
}

func (l *loader) loc(p Path, n *yaml.Node) {
	if n != nil {
		l.locs[p.String()] = n
	}
}

func (l *loader) tainted(p Path) bool {
	for _, t := range l.taints {
		if p.HasPrefix(t) {
			return true
		}
	}
	return false
}

// locate gives e the position of the node recorded for its path, or for
// the longest prefix of it that has one (a missing field is reported at
// the map that lacks it).
func (l *loader) locate(e *Error) {
	e.File = l.file
	for k := len(e.Path); k >= 0; k-- {
		if n := l.locs[e.Path[:k].String()]; n != nil {
			e.Line, e.Column = n.Line, n.Column
			return
		}
	}
}

// visit counts k more nodes walked and reports false once the budget is
// spent.
func (l *loader) visit(k int) bool {
	if l.fatal {
		return false
	}
	l.visits += k
	if l.visits > maxVisits {
		l.report(nil, nil, false, "file is too complex: it expands (through aliases) to more than %d YAML nodes", maxVisits)
		l.fatal = true
		return false
	}
	return true
}

// topology reads the whole document.
func (l *loader) topology(data []byte) *galev1.TopologySpec {
	if len(data) > MaxFileSize {
		l.report(nil, nil, false, "file is too large: more than %d bytes", MaxFileSize)
		return nil
	}
	doc, extra, err := decodeDocs(data)
	if err != nil {
		line, msg := syntaxError(data, err)
		l.errs = append(l.errs, &Error{File: l.file, Line: line, Msg: "malformed YAML: " + msg})
		return nil
	}
	var root *yaml.Node
	if doc != nil && len(doc.Content) > 0 {
		root = deref(doc.Content[0])
	}
	if root == nil || isNull(root) {
		l.errs = append(l.errs, &Error{File: l.file, Line: 1, Msg: "file is empty: a topology needs at least a name and one spout"})
		return nil
	}
	if extra > 0 {
		l.errs = append(l.errs, &Error{File: l.file, Line: extra, Msg: "a second YAML document starts here: a topology file holds exactly one"})
	}
	if root.Kind != yaml.MappingNode {
		l.report(root, nil, false, "a topology file must be a map with the keys %s; got %s", strings.Join(topKeys, ", "), typeName(root))
		return nil
	}
	l.loc(nil, root)

	s := &galev1.TopologySpec{Source: l.file}
	var spouts, bolts, streams *pair
	for _, kv := range l.entries(root, nil, "the topology") {
		switch kv.key {
		case "name":
			s.Name, _ = l.str(kv.v, Path{}.Field("name"), "topology name")
			l.loc(Path{}.Field("name"), kv.v)
		case "config":
			s.Config = l.config(kv, Path{}.Field("config"), "")
		case "spouts":
			spouts = &kv
		case "bolts":
			bolts = &kv
		case "streams":
			streams = &kv
		default:
			l.unknownKey(kv, nil, "at the top level", topKeys, map[string]Path{
				// Spouts missing for a typo make every input from them
				// unknown; the typo is the one error worth showing.
				"spouts": Path{}.Field("components"), "name": Path{}.Field("name"),
			})
		}
	}
	for _, sec := range []struct {
		kv   *pair
		kind galev1.ComponentKind
	}{{spouts, galev1.ComponentKind_COMPONENT_KIND_SPOUT}, {bolts, galev1.ComponentKind_COMPONENT_KIND_BOLT}} {
		if sec.kv == nil {
			continue
		}
		if sec.kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
			l.loc(Path{}.Field("components"), sec.kv.k)
		}
		// Broken spouts cause follow-on errors (inputs from unknown
		// components); broken bolts do not.
		items, _ := l.seq(sec.kv.v, Path{}.Field("components"), sec.kv.key, sec.kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT)
		for nth, item := range items {
			if c := l.component(item, sec.kind, len(s.Components), nth+1); c != nil {
				s.Components = append(s.Components, c)
			}
		}
	}
	if streams != nil {
		l.streams(streams.v, s)
	}
	return s
}

// component reads one entry of spouts or bolts as component idx.
func (l *loader) component(n *yaml.Node, kind galev1.ComponentKind, idx, nth int) *galev1.ComponentSpec {
	p := componentPath(idx)
	who := fmt.Sprintf("%s #%d", kindName(kind), nth)
	m := deref(n)
	if m == nil || m.Kind != yaml.MappingNode {
		l.report(n, Path{}.Field("components"), true, "%s: each entry of %ss must be a map with keys such as id, class, parallelism; got %s", who, kindName(kind), typeName(n))
		return nil
	}
	l.loc(p, n)
	kvs := l.entries(m, p, who)
	c := &galev1.ComponentSpec{Kind: kind, Parallelism: 1}
	for _, kv := range kvs {
		if kv.key == "id" {
			c.Id, _ = l.str(kv.v, p.Field("id"), who+": id")
			l.loc(p.Field("id"), kv.v)
			switch {
			case validName(c.Id):
				who = fmt.Sprintf("%s '%s'", kindName(kind), c.Id)
			case c.Id != "":
				who = fmt.Sprintf("%s %q", kindName(kind), c.Id)
			}
		}
	}

	var (
		impls    []pair // the keys that set an implementation, in file order
		class    string
		argv     []string
		attached *galev1.AttachedComponent
		extOnly  []pair // dir, env, protocol: only with run
		outputs  *pair
		cmd      = &galev1.ExternalCommand{}
		cp       = p.Field("command")
	)
	for _, kv := range kvs {
		switch kv.key {
		case "id":
		case "class":
			class, _ = l.str(kv.v, p.Field("class"), who+": class")
			l.loc(p.Field("class"), kv.v)
			impls = append(impls, kv)
		case "run":
			argv, _ = l.strList(kv.v, cp.Field("argv"), who+": run")
			l.loc(cp, kv.k)
			impls = append(impls, kv)
		case "dir":
			cmd.Dir, _ = l.str(kv.v, cp.Field("dir"), who+": dir")
			l.loc(cp.Field("dir"), kv.v)
			extOnly = append(extOnly, kv)
		case "env":
			cmd.Env = l.env(kv, cp.Field("env"), who)
			extOnly = append(extOnly, kv)
		case "protocol":
			cmd.Protocol = l.protocol(kv.v, cp.Field("protocol"), who)
			l.loc(cp.Field("protocol"), kv.v)
			extOnly = append(extOnly, kv)
		case "attached":
			if a := l.attached(kv.v, p.Field("attached"), who); a != nil {
				attached = a
				impls = append(impls, kv)
			}
		case "parallelism":
			c.Parallelism = l.parallelism(kv.v, p.Field("parallelism"), who)
			l.loc(p.Field("parallelism"), kv.v)
		case "config":
			c.Config = l.config(kv, p.Field("config"), who+": ")
		case "outputs":
			before := len(l.errs)
			c.Outputs = l.outputs(kv, p.Field("outputs"), who)
			if len(l.errs) > before {
				l.unresolved[idx] = true
			}
			outputs = &kv
		case "inputs":
			c.Inputs = l.inputs(kv, p.Field("inputs"), who)
		default:
			if hint.Suggest(kv.key, componentKeys) == "outputs" || keyHints[kv.key] == "outputs" {
				l.unresolved[idx] = true
			}
			l.unknownKey(kv, p, "in "+who, componentKeys, map[string]Path{
				"id": p.Field("id"), "class": p.Field("implementation"), "run": p.Field("implementation"),
				"attached": p.Field("implementation"), "parallelism": p.Field("parallelism"),
				"config": p.Field("config"), "outputs": p.Field("outputs"), "inputs": p.Field("inputs"),
				"dir": cp, "env": cp, "protocol": cp,
			})
		}
	}

	if len(impls) > 0 {
		l.loc(p.Field("implementation"), impls[0].k)
		switch impls[0].key {
		case "class":
			c.Implementation = &galev1.ComponentSpec_Class{Class: class}
		case "run":
			cmd.Argv = argv
			c.Implementation = &galev1.ComponentSpec_Command{Command: cmd}
		case "attached":
			c.Implementation = &galev1.ComponentSpec_Attached{Attached: attached}
		}
	}
	if len(impls) > 1 {
		l.report(impls[1].k, p.Field("implementation"), true, "%s has both %s and %s: use exactly one of class, run, attached", who, impls[0].key, impls[1].key)
	}
	if _, ok := c.Implementation.(*galev1.ComponentSpec_Command); !ok {
		for _, kv := range extOnly {
			l.report(kv.k, cp.Field(kv.key), true, "%s: %s is only for external components (run)", who, kv.key)
		}
	}
	if _, ok := c.Implementation.(*galev1.ComponentSpec_Class); ok && outputs != nil {
		l.report(outputs.k, p.Field("outputs"), true, "%s: outputs is only for external components (run, attached); a class declares its own outputs (DeclareOutputFields)", who)
		c.Outputs = nil
	}
	return c
}

func (l *loader) parallelism(n *yaml.Node, p Path, who string) int32 {
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode || d.ShortTag() != "!!int" {
		l.report(n, p, true, "%s: parallelism must be an integer, got %s", who, typeName(n))
		return 1
	}
	var i int64
	if err := d.Decode(&i); err != nil {
		// An explicitly tagged non-number (!!int two).
		l.report(n, p, true, "%s: parallelism must be an integer, got %q", who, d.Value)
		return 1
	}
	if i > math.MaxInt32 || i < math.MinInt32 {
		l.report(n, p, true, "%s: parallelism %s is out of range: it must be between 1 and %d", who, d.Value, MaxParallelism)
		return 1
	}
	return int32(i)
}

func (l *loader) protocol(n *yaml.Node, p Path, who string) galev1.ExternalProtocol {
	s, ok := l.str(n, p, who+": protocol")
	if !ok {
		return galev1.ExternalProtocol_EXTERNAL_PROTOCOL_UNSPECIFIED
	}
	switch strings.ReplaceAll(strings.ToLower(s), "_", "-") {
	case "gale", "attach":
		return galev1.ExternalProtocol_EXTERNAL_PROTOCOL_ATTACH
	case "storm-multilang", "multilang":
		return galev1.ExternalProtocol_EXTERNAL_PROTOCOL_STORM_MULTILANG
	}
	l.report(n, p, true, "%s: unknown protocol '%s'; use gale or storm-multilang", who, s)
	return galev1.ExternalProtocol_EXTERNAL_PROTOCOL_UNSPECIFIED
}

// attached reads `attached: true`, `attached: {token: ...}` or a null
// (attached without a token). It returns nil for false and for errors.
func (l *loader) attached(n *yaml.Node, p Path, who string) *galev1.AttachedComponent {
	d := deref(n)
	switch {
	case d == nil || isNull(d):
		return &galev1.AttachedComponent{}
	case d.Kind == yaml.ScalarNode && d.ShortTag() == "!!bool":
		var b bool
		if d.Decode(&b) == nil && b {
			return &galev1.AttachedComponent{}
		}
		if d.Decode(&b) == nil {
			return nil
		}
	case d.Kind == yaml.MappingNode:
		a := &galev1.AttachedComponent{}
		for _, kv := range l.entries(d, p, who+": attached") {
			if kv.key == "token" {
				a.Token, _ = l.str(kv.v, p.Field("token"), who+": attached token")
				continue
			}
			l.unknownKey(kv, p, "in attached of "+who, attachedKeys, nil)
		}
		return a
	}
	l.report(n, p, true, "%s: attached must be true or a map like {token: secret}, got %s", who, typeName(n))
	return nil
}

func (l *loader) env(kv pair, p Path, who string) map[string]string {
	l.loc(p, kv.k)
	kvs, ok := l.pairs(kv.v, p, who+": env")
	if !ok || len(kvs) == 0 {
		return nil
	}
	out := make(map[string]string, len(kvs))
	for _, e := range kvs {
		l.loc(p.Key(e.key), e.k)
		d := deref(e.v)
		if d == nil || d.Kind != yaml.ScalarNode || isNull(d) {
			l.report(e.v, p.Key(e.key), true, "%s: env %s must be a string, got %s", who, e.key, typeName(e.v))
			continue
		}
		out[e.key] = d.Value
	}
	return out
}

// config reads a map of scalars.
func (l *loader) config(kv pair, p Path, who string) map[string]*galev1.Value {
	l.loc(p, kv.k)
	kvs, ok := l.pairs(kv.v, p, who+"config")
	if !ok || len(kvs) == 0 {
		return nil
	}
	out := make(map[string]*galev1.Value, len(kvs))
	for _, e := range kvs {
		kp := p.Key(e.key)
		l.loc(kp, e.k)
		v, err := yamlValue(e.v)
		if err != nil {
			l.report(e.v, kp, true, "%sconfig '%s' %v", who, e.key, err)
			continue
		}
		out[e.key] = v
	}
	return out
}

// yamlValue converts a YAML scalar to a Value. Only scalars are accepted:
// a Value has no list or map kinds (see value.proto for why).
func yamlValue(n *yaml.Node) (*galev1.Value, error) {
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("must be a scalar (integer, float, bool, string or null), got %s", typeName(n))
	}
	bad := func(what string) error { return fmt.Errorf("has an invalid %s value %q", what, d.Value) }
	switch d.ShortTag() {
	case "!!null":
		return &galev1.Value{}, nil
	case "!!bool":
		var b bool
		if d.Decode(&b) != nil {
			return nil, bad("bool")
		}
		return &galev1.Value{Kind: &galev1.Value_BoolValue{BoolValue: b}}, nil
	case "!!int":
		var i int64
		if d.Decode(&i) != nil {
			return nil, fmt.Errorf("has an integer %s that does not fit in 64 bits", d.Value)
		}
		return &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: i}}, nil
	case "!!float":
		var f float64
		if d.Decode(&f) != nil {
			return nil, bad("float")
		}
		return &galev1.Value{Kind: &galev1.Value_DoubleValue{DoubleValue: f}}, nil
	case "!!str", "!!timestamp":
		return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: d.Value}}, nil
	case "!!binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(d.Value), ""))
		if err != nil {
			return nil, bad("binary (base64)")
		}
		return &galev1.Value{Kind: &galev1.Value_BytesValue{BytesValue: b}}, nil
	}
	return nil, fmt.Errorf("has an unsupported tag %s", d.Tag)
}

// outputs reads `outputs: {stream: [fields...] | {fields: [...], direct: bool}}`.
func (l *loader) outputs(kv pair, p Path, who string) []*galev1.StreamSpec {
	l.loc(p, kv.k)
	kvs, _ := l.pairs(kv.v, p, who+": outputs")
	out := make([]*galev1.StreamSpec, 0, len(kvs))
	for j, e := range kvs {
		sp := p.Index(j)
		l.loc(sp, e.k)
		st := &galev1.StreamSpec{Id: e.key}
		d := deref(e.v)
		switch {
		case d == nil || isNull(d):
		case d.Kind == yaml.SequenceNode:
			st.Fields, _ = l.strList(e.v, sp.Field("fields"), fmt.Sprintf("%s: fields of output stream '%s'", who, e.key))
		case d.Kind == yaml.MappingNode:
			for _, f := range l.entries(d, sp, fmt.Sprintf("%s: output stream '%s'", who, e.key)) {
				switch f.key {
				case "fields":
					st.Fields, _ = l.strList(f.v, sp.Field("fields"), fmt.Sprintf("%s: fields of output stream '%s'", who, e.key))
				case "direct":
					st.Direct = l.boolean(f.v, sp.Field("direct"), fmt.Sprintf("%s: direct of output stream '%s'", who, e.key))
					l.loc(sp.Field("direct"), f.v)
				default:
					l.unknownKey(f, sp, fmt.Sprintf("in output stream '%s' of %s", e.key, who), outputKeys, nil)
				}
			}
		default:
			l.report(e.v, sp, true, "%s: output stream '%s' must be a list of field names or a map like {fields: [a, b], direct: true}, got %s", who, e.key, typeName(e.v))
		}
		out = append(out, st)
	}
	return out
}

// inputs reads a bolt's `inputs:` list.
func (l *loader) inputs(kv pair, p Path, who string) []*galev1.InputSpec {
	l.loc(p, kv.k)
	items, _ := l.seq(kv.v, p, who+": inputs", true)
	out := make([]*galev1.InputSpec, 0, len(items))
	for k, item := range items {
		ip := p.Index(k)
		l.loc(ip, item)
		in := &galev1.InputSpec{Grouping: &galev1.Grouping{}}
		out = append(out, in)
		where := fmt.Sprintf("input #%d of %s", k+1, who)
		if d := deref(item); d == nil || d.Kind != yaml.MappingNode {
			l.report(item, ip, true, "%s: each input must be a map like {from: a, grouping: shuffle}, got %s", who, typeName(item))
			continue
		}
		for _, f := range l.entries(item, ip, where) {
			switch f.key {
			case "from":
				in.Component, _ = l.str(f.v, ip.Field("component"), where+": from")
				l.loc(ip.Field("component"), f.v)
			case "stream":
				in.Stream, _ = l.str(f.v, ip.Field("stream"), where+": stream")
				l.loc(ip.Field("stream"), f.v)
			case "grouping":
				in.Grouping.Type = l.grouping(f.v, ip.Field("grouping"), who)
			case "fields":
				in.Grouping.Fields, _ = l.strList(f.v, ip.Field("grouping").Field("fields"), where+": fields")
				l.loc(ip.Field("grouping").Field("fields"), f.k)
			default:
				l.unknownKey(f, ip, "in "+where, inputKeys, map[string]Path{
					"from": ip.Field("component"), "stream": ip.Field("stream"),
					"grouping": ip.Field("grouping"), "fields": ip.Field("grouping"),
				})
			}
		}
	}
	return out
}

func (l *loader) grouping(n *yaml.Node, p Path, who string) galev1.GroupingType {
	l.loc(p, n)
	name, ok := l.str(n, p, who+": grouping")
	if !ok {
		return galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED
	}
	t, err := ParseGrouping(name)
	if err != nil {
		l.report(n, p, true, "%s: %v", who, err)
	}
	return t
}

// streams reads Flux's top-level `streams:` list, appending each entry to
// the inputs of its `to` component.
func (l *loader) streams(n *yaml.Node, s *galev1.TopologySpec) {
	items, _ := l.seq(n, Path{}.Field("streams"), "streams", false)
	ids := map[string]int{}
	for i, c := range s.Components {
		if _, dup := ids[c.Id]; !dup {
			ids[c.Id] = i
		}
	}
	for e, item := range items {
		sp := Path{}.Field("streams").Index(e)
		where := fmt.Sprintf("streams entry #%d", e+1)
		if d := deref(item); d == nil || d.Kind != yaml.MappingNode {
			l.report(item, sp, true, "%s must be a map like {from: a, to: b, grouping: {type: SHUFFLE}}, got %s", where, typeName(item))
			continue
		}
		kvs := l.entries(item, sp, where)
		// Find the subscriber first: the entry's values live under its
		// input's path, so errors in them suppress follow-on errors there.
		var to *pair
		for _, kv := range kvs {
			if kv.key == "to" {
				to = &kv
			}
		}
		if to == nil {
			l.report(item, sp, false, "%s has no 'to' (the id of the subscribing bolt)", where)
			continue
		}
		toID, ok := l.str(to.v, sp.Field("to"), where+": to")
		if !ok {
			continue
		}
		ci, ok := ids[toID]
		if !ok {
			msg := fmt.Sprintf("%s: 'to' names unknown component '%s'", where, toID)
			if g := hint.Suggest(toID, sortedKeys(ids)); g != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", g)
			}
			l.report(to.v, sp.Field("to"), false, "%s", msg)
			continue
		}
		c := s.Components[ci]
		who := label(s, ci)
		ip := componentPath(ci).Field("inputs").Index(len(c.Inputs))
		l.loc(ip, item)
		if _, ok := l.locs[componentPath(ci).Field("inputs").String()]; !ok {
			l.loc(componentPath(ci).Field("inputs"), item)
		}
		in := &galev1.InputSpec{Grouping: &galev1.Grouping{}}
		c.Inputs = append(c.Inputs, in)
		for _, kv := range kvs {
			switch kv.key {
			case "to":
			case "name":
				l.str(kv.v, sp.Field("name"), where+": name")
			case "from":
				in.Component, _ = l.str(kv.v, ip.Field("component"), where+": from")
				l.loc(ip.Field("component"), kv.v)
			case "grouping":
				l.fluxGrouping(kv, in, ip, where, who)
			default:
				l.unknownKey(kv, sp, "in "+where, streamKeys, map[string]Path{"from": ip.Field("component"), "grouping": ip.Field("grouping")})
			}
		}
	}
}

// fluxGrouping reads a Flux grouping: {type: FIELDS, args: [word], streamId: s}.
func (l *loader) fluxGrouping(kv pair, in *galev1.InputSpec, ip Path, where, who string) {
	gp := ip.Field("grouping")
	l.loc(gp, kv.k)
	d := deref(kv.v)
	if d == nil || d.Kind != yaml.MappingNode {
		l.report(kv.v, gp, true, "%s: grouping must be a map like {type: SHUFFLE}, got %s", where, typeName(kv.v))
		return
	}
	for _, g := range l.entries(d, gp, where+": grouping") {
		switch g.key {
		case "type":
			l.loc(gp.Field("type"), g.v)
			in.Grouping.Type = l.grouping(g.v, gp.Field("type"), who)
		case "args":
			in.Grouping.Fields, _ = l.strList(g.v, gp.Field("fields"), where+": grouping args")
			l.loc(gp.Field("fields"), g.k)
		case "streamId":
			in.Stream, _ = l.str(g.v, ip.Field("stream"), where+": streamId")
			l.loc(ip.Field("stream"), g.v)
		default:
			l.unknownKey(g, gp, "in the grouping of "+where, fluxGroupKeys, map[string]Path{"type": gp.Field("type"), "args": gp.Field("fields")})
		}
	}
}

// sortedKeys returns the keys of m in order, so that hints do not depend
// on map iteration order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// unknownKey reports a key that is not in allowed, at the key. guesses
// maps an allowed key to the path whose follow-on errors to drop when the
// unknown key looks like a misspelling of it ("inputz" makes "bolt has no
// inputs" redundant).
func (l *loader) unknownKey(kv pair, p Path, where string, allowed []string, guesses map[string]Path) {
	msg := fmt.Sprintf("unknown key '%s' %s; allowed: %s", kv.key, where, strings.Join(allowed, ", "))
	guess := keyHints[kv.key]
	if guess == "" || !slices.Contains(allowed, guess) {
		guess = hint.Suggest(kv.key, allowed)
	}
	if guess != "" && guess != kv.key {
		msg += fmt.Sprintf(" (did you mean '%s'?)", guess)
	}
	l.report(kv.k, p, false, "%s", msg)
	if tp, ok := guesses[guess]; ok {
		l.taints = append(l.taints, tp)
	}
}

// pair is one entry of a YAML map.
type pair struct {
	k, v *yaml.Node
	key  string
}

// pairs returns the entries of a map node, with merge keys (<<) applied
// and duplicate keys reported. A null node is an empty map; anything else
// that is not a map is reported (what names it) and gives nil, false.
func (l *loader) pairs(n *yaml.Node, p Path, what string) ([]pair, bool) {
	d := deref(n)
	if d == nil || isNull(d) {
		return nil, true
	}
	if d.Kind != yaml.MappingNode {
		l.report(n, p, true, "%s must be a map, got %s", what, typeName(n))
		return nil, false
	}
	return l.mapPairs(d, p, what, 0), true
}

// entries is pairs for callers that have already checked the kind.
func (l *loader) entries(n *yaml.Node, p Path, what string) []pair {
	kvs, _ := l.pairs(n, p, what)
	return kvs
}

func (l *loader) mapPairs(d *yaml.Node, p Path, what string, depth int) []pair {
	seen := map[string]*yaml.Node{}
	var out, merged []pair
	for i := 0; i+1 < len(d.Content); i += 2 {
		if !l.visit(2) {
			return nil
		}
		k, v := d.Content[i], d.Content[i+1]
		kd := deref(k)
		if kd != nil && kd.Kind == yaml.ScalarNode && kd.ShortTag() == "!!merge" {
			merged = append(merged, l.merge(v, p, what, depth+1)...)
			continue
		}
		if kd == nil || kd.Kind != yaml.ScalarNode {
			l.report(k, p, false, "%s: keys must be strings, got %s", what, typeName(k))
			continue
		}
		if first, dup := seen[kd.Value]; dup {
			l.report(k, p, false, "duplicate key '%s' in %s (first at line %d)", kd.Value, what, first.Line)
			continue
		}
		seen[kd.Value] = k
		out = append(out, pair{k: k, v: v, key: kd.Value})
	}
	// Explicit keys win over merged ones, and earlier merged maps over
	// later ones, as the YAML merge key spec says.
	for _, m := range merged {
		if _, ok := seen[m.key]; !ok {
			seen[m.key] = m.k
			out = append(out, m)
		}
	}
	return out
}

// merge returns the entries that a merge key (<<: *a or <<: [*a, *b]) adds.
func (l *loader) merge(v *yaml.Node, p Path, what string, depth int) []pair {
	if depth > 8 {
		l.report(v, p, false, "%s: merge keys (<<) are nested too deeply", what)
		return nil
	}
	d := deref(v)
	switch {
	case d != nil && d.Kind == yaml.MappingNode:
		return l.mapPairs(d, p, what, depth)
	case d != nil && d.Kind == yaml.SequenceNode:
		var out []pair
		for _, item := range d.Content {
			if m := deref(item); m != nil && m.Kind == yaml.MappingNode {
				out = append(out, l.mapPairs(m, p, what, depth)...)
				continue
			}
			l.report(item, p, false, "%s: a merge key (<<) takes maps, got %s", what, typeName(item))
		}
		return out
	}
	l.report(v, p, false, "%s: a merge key (<<) takes a map or a list of maps, got %s", what, typeName(v))
	return nil
}

// seq returns the items of a list node; null is the empty list.
func (l *loader) seq(n *yaml.Node, p Path, what string, taint bool) ([]*yaml.Node, bool) {
	d := deref(n)
	if d == nil || isNull(d) {
		return nil, true
	}
	if d.Kind != yaml.SequenceNode {
		l.report(n, p, taint, "%s must be a list, got %s", what, typeName(n))
		return nil, false
	}
	if !l.visit(len(d.Content)) {
		return nil, false
	}
	return d.Content, true
}

// str reads a scalar as text. Numbers are taken as written (an id may be
// 42); booleans and nulls are refused since they are almost always
// mistakes (a forgotten value).
func (l *loader) str(n *yaml.Node, p Path, what string) (string, bool) {
	d := deref(n)
	if d != nil && d.Kind == yaml.ScalarNode {
		switch d.ShortTag() {
		case "!!str", "!!int", "!!float", "!!timestamp":
			return d.Value, true
		}
	}
	l.report(n, p, true, "%s must be a string, got %s", what, typeName(n))
	return "", false
}

// strList reads a list of strings; items that are not strings are
// reported and kept as "" so that indexes still match the file.
func (l *loader) strList(n *yaml.Node, p Path, what string) ([]string, bool) {
	d := deref(n)
	if d == nil || isNull(d) {
		return nil, true
	}
	if d.Kind != yaml.SequenceNode {
		l.report(n, p, true, "%s must be a list of strings like [a, b], got %s", what, typeName(n))
		return nil, false
	}
	if !l.visit(len(d.Content)) {
		return nil, false
	}
	out := make([]string, len(d.Content))
	ok := true
	for i, item := range d.Content {
		l.loc(p.Index(i), item)
		var good bool
		out[i], good = l.str(item, p.Index(i), fmt.Sprintf("%s: item #%d", what, i+1))
		ok = ok && good
	}
	return out, ok
}

func (l *loader) boolean(n *yaml.Node, p Path, what string) bool {
	d := deref(n)
	var b bool
	if d != nil && d.Kind == yaml.ScalarNode && d.ShortTag() == "!!bool" && d.Decode(&b) == nil {
		return b
	}
	l.report(n, p, true, "%s must be true or false, got %s", what, typeName(n))
	return false
}

// deref follows aliases to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 64 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// typeName names the YAML type of n for "got ..." messages.
func typeName(n *yaml.Node) string {
	d := deref(n)
	if d == nil {
		return "nothing"
	}
	switch d.Kind {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	case yaml.DocumentNode:
		return "document"
	case yaml.ScalarNode:
		switch t := d.ShortTag(); t {
		case "!!str":
			return "string"
		case "!!int":
			return "integer"
		case "!!float":
			return "float"
		case "!!bool":
			return "bool"
		case "!!null":
			return "null"
		case "!!binary":
			return "binary"
		case "!!timestamp":
			return "timestamp"
		default:
			return "a value tagged " + t
		}
	}
	return "nothing"
}

// decodeDocs decodes the first YAML document and reports the line where a
// second one starts, if any (yaml.Unmarshal would silently ignore it).
func decodeDocs(data []byte) (doc *yaml.Node, extraLine int, err error) {
	defer func() {
		// The yaml library has panicked on odd inputs in the past; a
		// panic here is a malformed file, not a crash.
		if v := recover(); v != nil {
			doc, extraLine, err = nil, 0, fmt.Errorf("yaml: %v", v)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var d yaml.Node
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	var e yaml.Node
	switch err := dec.Decode(&e); {
	case errors.Is(err, io.EOF):
		return &d, 0, nil
	case err != nil:
		return nil, 0, err
	}
	return &d, max(e.Line, 1), nil
}

var yamlErrRE = regexp.MustCompile(`(?s)^yaml: (?:line (\d+): )?(.*)$`)

// splitYAMLError splits "yaml: line 3: did not find expected key" into 3
// and the message.
func splitYAMLError(err error) (int, string) {
	m := yamlErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	return line, m[2]
}

// syntaxError returns the line and message of a YAML syntax error.
//
// The yaml library reports parser errors at the line where the enclosing
// block started ("line 2: did not find expected '-' indicator" for a
// mis-indented key on line 9), which sends users to the wrong place. The
// parser is streaming, so a prefix of the file fails with the same
// message exactly when it contains the offending token; a binary search
// over line prefixes finds that line. Unterminated quotes fail at the end
// of the stream, so for those the search starts at line 1 and finds where
// the scalar opened.
func syntaxError(data []byte, err error) (int, string) {
	line, msg := splitYAMLError(err)
	ends := lineEnds(data)
	if len(ends) <= maxRefineLines {
		fails := func(k int) bool {
			_, _, err := decodeDocs(data[:ends[k-1]])
			if err == nil {
				return false
			}
			_, m := splitYAMLError(err)
			return m == msg
		}
		lo, hi := line, len(ends)
		if lo < 1 || strings.Contains(msg, "end of stream") {
			lo = 1
		}
		if lo <= hi && fails(hi) {
			for lo < hi {
				mid := (lo + hi) / 2
				if fails(mid) {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			line = lo
		}
	}
	if line >= 1 && line <= len(ends) {
		start := 0
		if line > 1 {
			start = ends[line-2]
		}
		text := data[start:ends[line-1]]
		if indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]; bytes.IndexByte(indent, '\t') >= 0 {
			msg += " (YAML indentation must use spaces, not tabs)"
		}
	}
	return line, msg
}

// lineEnds returns the end offset (after the newline) of each line.
func lineEnds(data []byte) []int {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	return ends
}

// ParseConfFlag reads a --conf key=value flag. The value is read as a YAML
// scalar so that it gets the type it would have in a topology file: 10 is
// an int, 1.5 a double, true a bool; a quoted value ('10') is the string
// inside the quotes; anything else (including null, lists, and an empty
// value) is the string as written.
func ParseConfFlag(s string) (key string, v *galev1.Value, err error) {
	key, raw, ok := strings.Cut(s, "=")
	if !ok {
		return "", nil, fmt.Errorf("--conf %q: want key=value", s)
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return "", nil, fmt.Errorf("--conf %q: the key before '=' is empty", s)
	}
	return key, confValue(raw), nil
}

func confValue(raw string) *galev1.Value {
	str := &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: raw}}
	if strings.TrimSpace(raw) == "" {
		return str
	}
	doc, extra, err := decodeDocs([]byte(raw))
	if err != nil || extra != 0 || doc == nil || len(doc.Content) != 1 {
		return str
	}
	d := doc.Content[0]
	if d.Kind != yaml.ScalarNode {
		return str
	}
	switch d.ShortTag() {
	case "!!int", "!!float", "!!bool":
		if v, err := yamlValue(d); err == nil {
			return v
		}
	case "!!str":
		if d.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
			return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: d.Value}}
		}
	}
	return str
}
