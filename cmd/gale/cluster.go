package main

// The cluster commands talk to a running `gale node` through the
// Coordinator API (proto/gale/v1/coordinator.proto): submit, list, status,
// kill, activate, deactivate, rebalance and nodes.
//
// Decisions:
//   - Every command takes --addr (default 127.0.0.1:7070, the default gRPC
//     address of `gale node`; $GALE_ADDR when the flag is not given) and
//     --timeout (default 5s), which bounds connecting and, separately, each
//     call. Connections are made with coordinator.DialCoordinator, so that
//     an unreachable node is one clear line ("no Gale node answers at ...").
//   - `gale submit` loads and checks the YAML locally, with the same loader
//     as `gale local`, before any network call: a bad spec fails with
//     file:line and exit 2 whether or not a node runs.
//   - gRPC status codes become one line each: NotFound and AlreadyExists
//     name the topology, InvalidArgument is the server's message as a usage
//     error (exit 2), FailedPrecondition is the server's sentence alone
//     (a finished topology, one being killed: with what to do instead),
//     Unimplemented says the node does not support the call yet, anything
//     else is "<Call> failed: <message>" (exit 1). A status
//     never reaches the user as "rpc error: code = ...".
//   - `gale rebalance NAME` without --parallelism asks the coordinator to
//     spread the tasks anew over the current nodes (the API allows it).

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/node"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/spec"
)

const (
	defaultAddr    = "127.0.0.1:7070"
	defaultTimeout = 5 * time.Second
	addrEnv        = "GALE_ADDR"
)

// clusterCmd holds what every cluster command shares: its flag set, the
// node address and the timeout.
type clusterCmd struct {
	name    string // the subcommand, e.g. "kill"
	fs      *flag.FlagSet
	addr    string
	timeout time.Duration
	tls     security.TLSFiles  // --tls-ca, --tls-cert, --tls-key
	sec     *security.Security // loaded by parse; nil: plaintext
}

// newClusterCmd makes the flag set of `gale NAME` with --addr and
// --timeout; the caller adds its own flags before parse. synopsis is the
// usage line after "gale NAME", about what the command does.
func newClusterCmd(name, synopsis, about string, stderr io.Writer) *clusterCmd {
	c := &clusterCmd{name: name, fs: flag.NewFlagSet("gale "+name, flag.ContinueOnError)}
	c.fs.StringVar(&c.addr, "addr", defaultAddr, "gRPC address HOST:PORT of a Gale node ($"+addrEnv+" when not given)")
	c.fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "timeout for connecting and for each call")
	addTLSFlags(c.fs, &c.tls, "connect to a node that requires mutual TLS: ")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gale %s %s [--tls-ca F --tls-cert F --tls-key F]\n\n%s\n\nflags:\n", name, synopsis, about)
		c.fs.PrintDefaults()
	}
	return c
}

// jsonFlag adds --json: the API's response as JSON (protojson: the
// proto's field names in lowerCamelCase, enums by name, 64-bit integers as
// strings), for scripts, instead of the tables.
func (c *clusterCmd) jsonFlag() *bool {
	return c.fs.Bool("json", false, "print the API's response as JSON (proto3 JSON mapping) instead of tables")
}

// printJSON prints m in the proto3 JSON mapping, indented, one document.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode the response as JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// parse parses args (flags may come after the positionals), applies
// $GALE_ADDR, checks the common flags and returns the positionals.
func (c *clusterCmd) parse(args []string, stderr io.Writer) ([]string, error) {
	pos, err := parseInterspersed(c.fs, args, stderr)
	if err != nil {
		return nil, err
	}
	if len(flagsGiven(c.fs, "addr")) == 0 {
		if env := strings.TrimSpace(os.Getenv(addrEnv)); env != "" {
			c.addr = env
		}
	}
	if strings.TrimSpace(c.addr) == "" {
		return nil, usagef("--addr is empty: want HOST:PORT of a Gale node")
	}
	if err := checkHostPort("--addr", c.addr); err != nil {
		return nil, err
	}
	if c.timeout <= 0 {
		return nil, usagef("--timeout %v: want a positive duration such as 5s", c.timeout)
	}
	if c.sec, err = loadClientTLS(c.fs, c.tls); err != nil {
		return nil, err
	}
	if w := looseKeyWarning("the client's key", c.sec.Files().Key); w != "" {
		fmt.Fprintf(stderr, "gale %s: warning: %s\n", c.name, w)
	}
	return pos, nil
}

// nameArg returns the one topology NAME the command takes.
func (c *clusterCmd) nameArg(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want one topology NAME, got %d arguments (see gale %s -h)", len(pos), c.name)
	}
	if strings.TrimSpace(pos[0]) == "" {
		return "", usagef("the topology NAME is empty (see gale %s -h)", c.name)
	}
	return pos[0], nil
}

// noArgs checks that the command got no positional arguments.
func (c *clusterCmd) noArgs(pos []string) error {
	if len(pos) != 0 {
		return usagef("unexpected arguments %q (see gale %s -h)", pos, c.name)
	}
	return nil
}

// dial connects to the node at c.addr and runs call on its Coordinator
// API with a per-call timeout of c.timeout plus extra. rpc names the call
// and topo the topology it is about ("" if none), for error messages.
func (c *clusterCmd) dial(ctx context.Context, rpc, topo string, extra time.Duration, call func(context.Context, galev1.CoordinatorServiceClient) error) error {
	// Nothing listening is the common mistake: say so at once rather than
	// after gRPC's wait for a node that may be starting (--timeout).
	if err := probeTCP(ctx, c.addr, c.timeout); errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("no Gale node answers at %s (is 'gale node' running?): connection refused", c.addr)
	} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		// --timeout is spent: do not wait as long again for gRPC.
		return fmt.Errorf("no Gale node answers at %s (is 'gale node' running?): no connection within %v (see --timeout)", c.addr, c.timeout)
	}
	client, conn, err := coordinator.DialCoordinator(ctx, c.addr, c.sec, c.timeout)
	if err != nil {
		if ctx.Err() != nil {
			return errStopped
		}
		inner := errors.Unwrap(err)
		s, isStatus := status.FromError(inner)
		if inner == nil || !isStatus {
			return err // not a gRPC status: the address itself is bad
		}
		switch {
		case s.Code() == codes.Unavailable, s.Code() == codes.DeadlineExceeded, s.Code() == codes.Canceled:
			return errors.New(tlsHint(tidyDialError(err), c.sec != nil))
		case notGRPC(s):
			return errors.New(tlsHint(tidyDialError(err), c.sec != nil))
		}
		// Something answered the probe with an error of its own (a node
		// that does not serve ListNodes yet, say): it is reachable, so go
		// on and let the call itself report what it has to.
		conn, err = grpc.NewClient(c.addr, coordinator.DialOptions(c.sec)...)
		if err != nil {
			return fmt.Errorf("connect to %s: %v", c.addr, err)
		}
		client = galev1.NewCoordinatorServiceClient(conn)
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, c.timeout+extra)
	defer cancel()
	if err := call(cctx, client); err != nil {
		if ctx.Err() != nil {
			return errStopped
		}
		return rpcError(err, rpc, topo, c.addr, c.timeout+extra)
	}
	return nil
}

// probeTCP opens and closes a TCP connection to addr.
func probeTCP(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// tidyDialError is DialCoordinator's message with the wrapped gRPC status
// shown as its message only (no "rpc error: code = ... desc =").
func tidyDialError(err error) string {
	msg := err.Error()
	inner := errors.Unwrap(err)
	if inner == nil {
		return msg
	}
	if s, ok := status.FromError(inner); ok && s.Message() != "" && strings.HasSuffix(msg, inner.Error()) {
		return strings.TrimSuffix(msg, inner.Error()) + s.Message()
	}
	return msg
}

// tlsHint adds what to check to a connection error that points at TLS:
// a plaintext client closed on by a node that wants TLS, a handshake that
// failed, or TLS spoken to a plaintext node.
func tlsHint(msg string, withTLS bool) string {
	switch {
	case !withTLS && (strings.Contains(msg, "server preface") || strings.Contains(msg, "tls:")):
		return msg + " (is it a node's gRPC port, its --grpc-addr, and not its gossip port? a node that requires TLS answers so too: give --tls-ca, --tls-cert and --tls-key, or set GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY)"
	case withTLS && strings.Contains(msg, "does not look like a TLS handshake"):
		return msg + " (the node does not speak TLS: leave out --tls-* and GALE_TLS_*)"
	case withTLS && strings.Contains(msg, "certificate is valid for"):
		return msg + " (the node's certificate does not name the address dialled: dial a name it has, or add this one: gale cert node NAME --host ...)"
	case withTLS && (strings.Contains(msg, "expired certificate") || strings.Contains(msg, "has expired or is not yet valid")):
		return msg + " (a certificate is out of its validity: renew it, or check this machine's and the node's clocks)"
	case withTLS && (strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:") || strings.Contains(msg, "handshake")):
		return msg + " (TLS: --tls-ca must be the CA that signed the node's certificate, and the node's CA must have signed --tls-cert)"
	case withTLS && (strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "EOF")):
		// The node closes the connection when it refuses the client's
		// certificate; which error the client sees depends on timing.
		return msg + " (the node closed the connection: with TLS that is how it refuses a client certificate; its CA must have signed --tls-cert, and --tls-ca must be the CA that signed the node's)"
	}
	return msg
}

// notGRPC tells whether a status is grpc-go's translation of a plain HTTP
// answer (a web server or proxy at the address, not a Gale node): a 404
// becomes Unimplemented, which must not read as "does not support X yet".
func notGRPC(s *status.Status) bool {
	m := s.Message()
	return strings.Contains(m, "unexpected HTTP status code") || strings.Contains(m, "missing HTTP content-type")
}

// rpcError turns the error of a Coordinator call into one clear line.
func rpcError(err error, rpc, topo, addr string, timeout time.Duration) error {
	s := status.Convert(err)
	msg := s.Message()
	switch s.Code() {
	case codes.NotFound:
		if topo != "" {
			return fmt.Errorf("topology %s not found", topo)
		}
	case codes.AlreadyExists:
		if topo != "" {
			return fmt.Errorf("a topology named %s already exists (gale kill %s first; a finished one runs again with gale rebalance %s)", topo, topo, topo)
		}
	case codes.InvalidArgument:
		return usageError{errors.New(msg)}
	case codes.FailedPrecondition:
		// The node's own sentence, naming the topology: it is finished or
		// being killed (said with what to do instead), or its stored spec
		// is unreadable.
		return errors.New(msg)
	case codes.Unimplemented:
		if notGRPC(s) {
			return fmt.Errorf("%s failed: the server at %s is not a Gale node: %s", rpc, addr, msg)
		}
		return fmt.Errorf("the node at %s does not support %s yet", addr, rpc)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s failed: the node at %s did not answer within %v (see --timeout)", rpc, addr, timeout)
	}
	return fmt.Errorf("%s failed: %s", rpc, msg)
}

// runSubmit is `gale submit FILE.yaml`.
func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("submit", "FILE.yaml [--conf key=value ...] [--inactive] [--addr HOST:PORT] [--timeout D]",
		"Check a topology file locally, then submit it to the cluster.", stderr)
	var confs multiFlag
	c.fs.Var(&confs, "conf", "override a config key: key=value (repeatable)")
	inactive := c.fs.Bool("inactive", false, "submit with the spouts paused (start them with gale activate NAME)")
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one topology file, got %d arguments (see gale submit -h)", len(pos))
	}
	overrides := map[string]*galev1.Value{}
	for _, cf := range confs {
		k, v, err := spec.ParseConfFlag(cf)
		if err != nil {
			return usageError{err}
		}
		overrides[k] = v
	}
	ts, err := sdk.LoadTopology(pos[0], overrides)
	if err != nil {
		return usageError{err}
	}
	for _, w := range sdk.ConfigKeyWarnings(ts) {
		fmt.Fprintf(stderr, "gale submit: warning: %s: %s\n", pos[0], w)
	}
	var id string
	err = c.dial(ctx, "SubmitTopology", ts.GetName(), 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) error {
		resp, err := cl.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: ts, Config: overrides, StartInactive: *inactive})
		id = resp.GetId()
		return err
	})
	if err != nil {
		return err
	}
	if *inactive {
		fmt.Fprintf(stdout, "submitted %s (id %s), inactive: start it with gale activate %s\n", ts.GetName(), id, ts.GetName())
	} else {
		fmt.Fprintf(stdout, "submitted %s (id %s)\n", ts.GetName(), id)
	}
	return nil
}

// runList is `gale list`.
func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("list", "[--json] [--addr HOST:PORT] [--timeout D]", "List the topologies of the cluster.", stderr)
	asJSON := c.jsonFlag()
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	if err := c.noArgs(pos); err != nil {
		return err
	}
	var resp *galev1.ListTopologiesResponse
	err = c.dial(ctx, "ListTopologies", "", 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) (err error) {
		resp, err = cl.ListTopologies(ctx, &galev1.ListTopologiesRequest{})
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, resp)
	}
	if len(resp.GetTopologies()) == 0 {
		fmt.Fprintln(stdout, "no topologies")
		return nil
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "NAME\tID\tSTATE\tTASKS\tNODES\tUPTIME")
	for _, t := range resp.GetTopologies() {
		state := topologyState(t.GetState())
		if f := t.GetFailingNodes(); len(f) > 0 {
			state += ", FAILING on " + strings.Join(f, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", t.GetName(), t.GetId(), state, t.GetTasks(), t.GetNodes(), formatUptime(t.GetUptimeSeconds()))
	}
	return tw.Flush()
}

// runStatus is `gale status NAME`.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("status", "NAME [--json] [--addr HOST:PORT] [--timeout D]",
		"Show a topology's components, tasks, the nodes running them, counters, each node's run and recent errors.", stderr)
	asJSON := c.jsonFlag()
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	name, err := c.nameArg(pos)
	if err != nil {
		return err
	}
	var resp *galev1.GetTopologyStatusResponse
	err = c.dial(ctx, "GetTopologyStatus", name, 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) (err error) {
		resp, err = cl.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: name})
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, resp)
	}
	printStatus(stdout, name, resp)
	return nil
}

// printStatus prints the summary line, the component table, the task
// table and the recent errors.
func printStatus(w io.Writer, name string, resp *galev1.GetTopologyStatusResponse) {
	s := resp.GetSummary()
	if s.GetName() != "" {
		name = s.GetName()
	}
	// Failing: a run failed and has not run a minute since (the summary,
	// from etcd), or is down now (the runs, from the nodes).
	failing := slices.Clone(s.GetFailingNodes())
	for _, r := range resp.GetRuns() {
		if st := r.GetState(); st == galev1.NodeRunState_NODE_RUN_STATE_RESTARTING || st == galev1.NodeRunState_NODE_RUN_STATE_FAILED {
			failing = append(failing, r.GetNode())
		}
	}
	slices.Sort(failing)
	failing = slices.Compact(failing)
	health := ""
	if len(failing) > 0 {
		health = fmt.Sprintf("; FAILING on %s: %s (see RUN below)", plural(len(failing), "node"), strings.Join(failing, ", "))
	}
	var held []string
	for _, r := range resp.GetRuns() {
		if r.GetHeld() != "" {
			held = append(held, r.GetNode())
		}
	}
	if len(held) > 0 {
		slices.Sort(held)
		health += fmt.Sprintf("; HELD on %s: %s (see RUN below)", plural(len(held), "node"), strings.Join(held, ", "))
	}
	fmt.Fprintf(w, "topology %s (id %s): %s, %d tasks on %s, up %s%s\n", name, s.GetId(), topologyState(s.GetState()),
		s.GetTasks(), plural(int(s.GetNodes()), "node"), formatUptime(s.GetUptimeSeconds()), health)
	comps := resp.GetComponents()
	if len(comps) == 0 {
		return
	}

	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "COMPONENT\tKIND\tTASKS\tEMITTED\tTRANSFERRED\tEXECUTED\tACKED\tFAILED\tCOMPLETE P50/P99\tPROCESS P50/P99\tFULLEST QUEUE")
	for _, cs := range comps {
		k := cs.GetCounters()
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", cs.GetId(), componentKind(cs.GetKind()), len(cs.GetTasks()),
			k.GetEmitted(), k.GetTransferred(), k.GetExecuted(), k.GetAcked(), k.GetFailed(),
			formatLatency(k.GetCompleteLatency()), formatLatency(k.GetProcessLatency()), fullestQueue(cs.GetTasks()))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "TASK\tCOMPONENT\tNODE\tEMITTED\tEXECUTED\tACKED\tFAILED\tQUEUE\tFULL\tWAIT")
	for _, cs := range comps {
		for _, t := range cs.GetTasks() {
			node := t.GetNode()
			if node == "" {
				node = "(unassigned)"
			}
			k := t.GetCounters()
			queue, full, wait := formatQueue(t.GetQueue())
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", t.GetTaskId(), cs.GetId(), node,
				k.GetEmitted(), k.GetExecuted(), k.GetAcked(), k.GetFailed(), queue, full, wait)
		}
	}
	tw.Flush()

	// Every node the assignment gives tasks has a row: one without a run
	// did not answer in time, or has not started its run yet.
	runs := slices.Clone(resp.GetRuns())
	reported := map[string]bool{}
	for _, r := range runs {
		reported[r.GetNode()] = true
	}
	for _, cs := range comps {
		for _, t := range cs.GetTasks() {
			if n := t.GetNode(); n != "" && !reported[n] {
				reported[n] = true
				runs = append(runs, &galev1.NodeRun{Node: n})
			}
		}
	}
	slices.SortFunc(runs, func(x, y *galev1.NodeRun) int { return strings.Compare(x.GetNode(), y.GetNode()) })
	if len(runs) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "NODE\tRUN\tUP\tRESTARTS\tLAST FAILURE")
		for _, r := range runs {
			up := "-"
			if st := r.GetState(); st == galev1.NodeRunState_NODE_RUN_STATE_RUNNING || st == galev1.NodeRunState_NODE_RUN_STATE_FINISHED {
				up = formatUptime(r.GetUpMillis() / 1000)
			}
			failure := "-"
			if r.GetError() != "" {
				failure = time.UnixMilli(r.GetErrorUnixMillis()).Format(time.DateTime) + " " + oneLine(r.GetError())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.GetNode(), runState(r), up, r.GetRestarts(), failure)
		}
		tw.Flush()
		for _, r := range runs {
			if r.GetHeld() != "" {
				fmt.Fprintf(w, "%s holds its tasks: %s\n", r.GetNode(), r.GetHeld())
			}
		}
	}
	printErrors(w, comps)
}

// maxErrorLines bounds the errors gale status prints: the newest, after
// repeats are folded.
const maxErrorLines = 30

// printErrors prints the components' recent errors, oldest first across
// components, a task's repeats of one error folded into its latest.
func printErrors(w io.Writer, comps []*galev1.ComponentStatus) {
	var (
		runs  []*errorRun
		kept  int
		total uint64
	)
	reported := map[int32]uint64{} // task id -> errors reported in all
	for _, cs := range comps {
		kept += len(cs.GetErrors())
		total += cs.GetCounters().GetErrors()
		for _, ts := range cs.GetTasks() {
			reported[ts.GetTaskId()] = ts.GetCounters().GetErrors()
		}
		for _, e := range repeatedErrors(cs.GetErrors()) {
			e.comp = cs.GetId()
			runs = append(runs, e)
		}
	}
	if len(runs) == 0 {
		return
	}
	slices.SortStableFunc(runs, func(x, y *errorRun) int { return cmp.Compare(x.last, y.last) })
	noteDropped(runs, reported)
	head := "recent errors, oldest first"
	var notes []string
	if total > uint64(kept) {
		notes = append(notes, fmt.Sprintf("%d reported in all; each task's last %d are kept", total, node.MaxKeptErrorsPerTask))
	}
	if len(runs) > maxErrorLines {
		notes = append(notes, fmt.Sprintf("the newest %d lines of %d", maxErrorLines, len(runs)))
		runs = runs[len(runs)-maxErrorLines:]
	}
	if len(notes) > 0 {
		head += " (" + strings.Join(notes, "; ") + ")"
	}
	fmt.Fprintf(w, "\n%s:\n", head)
	for _, e := range runs {
		fmt.Fprintf(w, "  %s %s task %d: %s%s\n", time.UnixMilli(e.last).Format(time.DateTime), e.comp, e.task, e.msg, e.times())
	}
}

// runState says what a node's run is doing, with the time left before a
// failed run starts again.
func runState(r *galev1.NodeRun) string {
	switch r.GetState() {
	case galev1.NodeRunState_NODE_RUN_STATE_RUNNING:
		if r.GetHeld() != "" {
			return "held"
		}
		return "running"
	case galev1.NodeRunState_NODE_RUN_STATE_FINISHED:
		return "finished"
	case galev1.NodeRunState_NODE_RUN_STATE_RESTARTING:
		if d := time.Duration(r.GetRestartInMillis()) * time.Millisecond; d > 0 {
			return "restarting in " + d.Round(100*time.Millisecond).String()
		}
		return "restarting"
	case galev1.NodeRunState_NODE_RUN_STATE_FAILED:
		return "failed to start"
	default:
		if unanswered(r) {
			return "no answer"
		}
		return "no run reported"
	}
}

// unanswered reports whether r stands for a node that did not answer the
// status request (the node asked says why in the error): its tasks'
// counters are missing, not zero.
func unanswered(r *galev1.NodeRun) bool {
	return r.GetState() == galev1.NodeRunState_NODE_RUN_STATE_UNSPECIFIED && r.GetError() != ""
}

// errorRun is one task's error and how often it reported one like it: a
// bolt failing every tuple, or an external process exiting at every
// start, reports the same error many times, with only the tuple's id or
// the process's pid changing.
type errorRun struct {
	comp        string
	task        int32
	msg         string // the latest
	n           int
	first, last int64 // unix millis
	// reported is how many errors the task reported in all when that is
	// more than it kept (0 otherwise; set on the task's newest line only):
	// its n count the kept ones only.
	reported uint64
}

func (e errorRun) times() string {
	var notes []string
	if e.n > 1 {
		notes = append(notes, fmt.Sprintf("%d like it since %s", e.n, time.UnixMilli(e.first).Format(time.TimeOnly)))
	}
	if e.reported > 0 {
		notes = append(notes, fmt.Sprintf("%d from this task in all, its last %d kept", e.reported, node.MaxKeptErrorsPerTask))
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, ", ") + ")"
}

// noteDropped notes, on the newest line of each task that reported more
// errors than its lines hold (older ones were dropped: a task keeps its
// last node.MaxKeptErrorsPerTask), how many it reported in all, since the
// lines' counts cover the kept errors only. runs are sorted oldest first.
func noteDropped(runs []*errorRun, reported map[int32]uint64) {
	kept := map[int32]uint64{}
	for _, r := range runs {
		kept[r.task] += uint64(r.n)
	}
	for i := len(runs) - 1; i >= 0; i-- {
		t := runs[i].task
		if n := reported[t]; n > kept[t] {
			runs[i].reported = n
			delete(reported, t)
		}
	}
}

// repeatedErrors folds the errors of a task that differ only in their
// numbers into one, in the order of their last report.
func repeatedErrors(errs []*galev1.ComponentError) []*errorRun {
	type key struct {
		task  int32
		shape string
	}
	var out []*errorRun
	seen := map[key]*errorRun{}
	for _, e := range errs {
		msg := oneLine(e.GetMessage())
		k := key{e.GetTaskId(), digits.ReplaceAllString(msg, "#")}
		if r := seen[k]; r != nil {
			r.n++
			if e.GetUnixMillis() >= r.last {
				r.last, r.msg = e.GetUnixMillis(), msg
			}
			r.first = min(r.first, e.GetUnixMillis())
			continue
		}
		r := &errorRun{task: k.task, msg: msg, n: 1, first: e.GetUnixMillis(), last: e.GetUnixMillis()}
		seen[k] = r
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(x, y *errorRun) int { return cmp.Compare(x.last, y.last) })
	return out
}

var digits = regexp.MustCompile(`[0-9]+`)

// oneLine puts a message with line breaks (a process's output) on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runKill is `gale kill NAME`.
func runKill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("kill", "NAME [--wait SECONDS] [--addr HOST:PORT] [--timeout D]",
		"Deactivate a topology's spouts, wait for in-flight tuples, then remove it.", stderr)
	wait := c.fs.Int("wait", 0, "seconds the spouts stay deactivated before the tasks stop (default: the topology's message timeout; 0: at once)")
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	name, err := c.nameArg(pos)
	if err != nil {
		return err
	}
	waitGiven := len(flagsGiven(c.fs, "wait")) > 0
	if waitGiven && (*wait < 0 || *wait > coordinator.MaxKillWaitSeconds) {
		return usagef("--wait %d: want a number of seconds from 0 to %d (a day)", *wait, coordinator.MaxKillWaitSeconds)
	}
	req := &galev1.KillTopologyRequest{Name: name}
	// The node answers after the wait: give the call that much more time.
	// Without --wait it is the topology's message timeout, which only the
	// node knows; allow for the largest a topology may reasonably set.
	extra := maxDefaultKillWait
	if waitGiven {
		req.WaitSeconds = proto.Int32(int32(*wait))
		extra = time.Duration(*wait) * time.Second
	}
	// A kill that waits says so once the node has had the call for a
	// second, rather than sitting silent for the message timeout (30 s
	// by default).
	waiting := "its message timeout, as Storm's kill does,"
	if waitGiven {
		waiting = fmt.Sprintf("%ds", *wait)
	}
	err = c.dial(ctx, "KillTopology", name, extra, func(ctx context.Context, cl galev1.CoordinatorServiceClient) error {
		if waitGiven && *wait == 0 {
			_, err := cl.KillTopology(ctx, req)
			return err
		}
		answered, said := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(said)
			select {
			case <-answered:
			case <-time.After(time.Second):
				fmt.Fprintf(stderr, "killing %s: its spouts are stopped; waiting %s for the tuples in flight (--wait 0: stop at once)\n", name, waiting)
			}
		}()
		_, err := cl.KillTopology(ctx, req)
		close(answered)
		<-said
		return err
	})
	if errors.Is(err, errStopped) {
		// The node had the call: cancelling it ends the wait, not the
		// kill ("stopped" alone read as if the kill were undone).
		fmt.Fprintf(stderr, "gale kill: stopped waiting; the node kills %s at once if it had the call (gale list tells)\n", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "killed %s\n", name)
	return nil
}

// maxDefaultKillWait is how long `gale kill` without --wait waits for the
// node's answer beyond --timeout: the wait is the topology's message
// timeout (30 s by default). If the call ends first, the kill still goes
// on at the node.
const maxDefaultKillWait = 5 * time.Minute

// runActivate is `gale activate NAME`.
func runActivate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("activate", "NAME [--addr HOST:PORT] [--timeout D]", "Let a topology's spouts emit again.", stderr)
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	name, err := c.nameArg(pos)
	if err != nil {
		return err
	}
	err = c.dial(ctx, "ActivateTopology", name, 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) error {
		_, err := cl.ActivateTopology(ctx, &galev1.ActivateTopologyRequest{Name: name})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "activated %s\n", name)
	return nil
}

// runDeactivate is `gale deactivate NAME`.
func runDeactivate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("deactivate", "NAME [--addr HOST:PORT] [--timeout D]",
		"Pause a topology's spouts; the bolts finish what is in flight.", stderr)
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	name, err := c.nameArg(pos)
	if err != nil {
		return err
	}
	err = c.dial(ctx, "DeactivateTopology", name, 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) error {
		_, err := cl.DeactivateTopology(ctx, &galev1.DeactivateTopologyRequest{Name: name})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deactivated %s\n", name)
	return nil
}

// runRebalance is `gale rebalance NAME`.
func runRebalance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("rebalance", "NAME [--parallelism COMPONENT=N ...] [--addr HOST:PORT] [--timeout D]",
		"Change the number of tasks of components; without --parallelism, spread the tasks anew over the current nodes.", stderr)
	var pars multiFlag
	c.fs.Var(&pars, "parallelism", "set a component's number of tasks: COMPONENT=N (repeatable)")
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	name, err := c.nameArg(pos)
	if err != nil {
		return err
	}
	par, err := parseParallelism(pars)
	if err != nil {
		return err
	}
	err = c.dial(ctx, "RebalanceTopology", name, 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) error {
		_, err := cl.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: name, Parallelism: par})
		return err
	})
	if err != nil {
		return err
	}
	if len(par) == 0 {
		fmt.Fprintf(stdout, "rebalanced %s\n", name)
		return nil
	}
	ids := make([]string, 0, len(par))
	for id := range par {
		ids = append(ids, fmt.Sprintf("%s=%d", id, par[id]))
	}
	sort.Strings(ids)
	fmt.Fprintf(stdout, "rebalanced %s (%s)\n", name, strings.Join(ids, ", "))
	return nil
}

// parseParallelism reads the --parallelism COMPONENT=N flags. Every error
// is a usage error naming the flag.
func parseParallelism(flags []string) (map[string]int32, error) {
	out := make(map[string]int32, len(flags))
	for _, f := range flags {
		comp, num, ok := strings.Cut(f, "=")
		if !ok {
			return nil, usagef("--parallelism %q: want COMPONENT=N", f)
		}
		comp = strings.TrimSpace(comp)
		if comp == "" {
			return nil, usagef("--parallelism %q: the component before '=' is empty", f)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		switch {
		case comp == spec.AckerComponent && err == nil && n == 0:
			// No ackers: acking off for the new run.
		case err != nil:
			return nil, usagef("--parallelism %q: %q is not a number of tasks: want an integer from 1 to %d (%s=0 turns acking off)", f, strings.TrimSpace(num), spec.MaxParallelism, spec.AckerComponent)
		case n < 1 || n > spec.MaxParallelism:
			return nil, usagef("--parallelism %q: %d tasks: want 1 to %d (%s=0 turns acking off)", f, n, spec.MaxParallelism, spec.AckerComponent)
		}
		if _, dup := out[comp]; dup {
			return nil, usagef("--parallelism %q: component %s is given more than once", f, comp)
		}
		out[comp] = int32(n)
	}
	return out, nil
}

// runNodes is `gale nodes`.
func runNodes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClusterCmd("nodes", "[--json] [--addr HOST:PORT] [--timeout D]", "List the nodes of the cluster; * marks the leader.", stderr)
	asJSON := c.jsonFlag()
	pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	if err := c.noArgs(pos); err != nil {
		return err
	}
	var resp *galev1.ListNodesResponse
	err = c.dial(ctx, "ListNodes", "", 0, func(ctx context.Context, cl galev1.CoordinatorServiceClient) (err error) {
		resp, err = cl.ListNodes(ctx, &galev1.ListNodesRequest{})
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, resp)
	}
	if len(resp.GetNodes()) == 0 {
		fmt.Fprintln(stdout, "no nodes")
		return nil
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "NAME\tGRPC ADDR\tGOSSIP ADDR\tSLOTS\tTASKS\tSTATE\tLEADER\tVERSION")
	for _, n := range resp.GetNodes() {
		leader := ""
		if n.GetLeader() {
			leader = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", n.GetName(), n.GetGrpcAddr(), n.GetGossipAddr(), n.GetSlots(), n.GetTasks(),
			strings.ToLower(strings.TrimPrefix(n.GetState().String(), "NODE_STATE_")), leader, n.GetVersion())
	}
	return tw.Flush()
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func topologyState(s galev1.TopologyState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TOPOLOGY_STATE_"))
}

func componentKind(k galev1.ComponentKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "COMPONENT_KIND_"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// formatUptime rounds an uptime for a table: 42s, 5m3s, 3h25m, 2d3h.
func formatUptime(sec int64) string {
	switch {
	case sec < 0:
		return "-"
	case sec < 3600:
		return (time.Duration(sec) * time.Second).String()
	case sec < 86400:
		return fmt.Sprintf("%dh%dm", sec/3600, sec%3600/60)
	default:
		return fmt.Sprintf("%dd%dh", sec/86400, sec%86400/3600)
	}
}

// formatLatency formats a histogram's p50 and p99 as "p50/p99", e.g.
// "1.2ms/850µs", or "-" when it has no observations.
// formatQueue formats a task's input queue for the status table: the
// batches waiting and the bound ("+N" for batches from other nodes waiting
// for room), how full it is by batches or by bytes, whichever is fuller
// (the input of a bottleneck stays near 100%), and how long the batch at
// its head has waited. A task without a queue (a spout, or one on a node
// that did not answer) shows "-".
func formatQueue(q *galev1.QueueState) (queue, full, wait string) {
	f, ok := queueFill(q)
	if !ok {
		return "-", "-", "-"
	}
	queue = fmt.Sprintf("%d/%d", q.GetBatches(), q.GetCapacityBatches())
	if n := q.GetOverflowBatches(); n > 0 {
		queue += fmt.Sprintf("+%d", n)
	}
	return queue, fmt.Sprintf("%.0f%%", 100*f), formatMicros(float64(q.GetHeadAgeMicros()))
}

// queueFill is how full q is, 0 to 1: by batches or by bytes, whichever is
// fuller. ok is false for a task without a queue.
func queueFill(q *galev1.QueueState) (f float64, ok bool) {
	if q == nil || q.GetCapacityBatches() == 0 {
		return 0, false
	}
	f = float64(q.GetBatches()) / float64(q.GetCapacityBatches())
	if c := q.GetCapacityBytes(); c > 0 {
		f = max(f, float64(q.GetBytes())/float64(c))
	}
	return min(f, 1), true
}

// fullestQueue is the component table's summary of its tasks' queues: the
// fullest one, and the task it belongs to ("-" for spouts). A topology's
// bottleneck is the component whose queue stays near 100%.
func fullestQueue(tasks []*galev1.TaskStatus) string {
	best, task, found := -1.0, int32(0), false
	for _, t := range tasks {
		if f, ok := queueFill(t.GetQueue()); ok && f > best {
			best, task, found = f, t.GetTaskId(), true
		}
	}
	if !found {
		return "-"
	}
	return fmt.Sprintf("%.0f%% (task %d)", 100*best, task)
}

func formatLatency(h *galev1.LatencyHistogram) string {
	var n uint64
	for _, c := range h.GetCounts() {
		n += c
	}
	if n == 0 {
		return "-"
	}
	return formatMicros(h.GetP50Micros()) + "/" + formatMicros(h.GetP99Micros())
}

// formatMicros formats a duration given in microseconds with at most three
// significant digits and the unit that suits it: 850ns, 12.5µs, 1.2ms, 3s;
// a minute or more as a Go duration rounded to the second (2m5s).
func formatMicros(us float64) string {
	if math.IsNaN(us) || math.IsInf(us, 0) || us < 0 {
		return "?"
	}
	if us == 0 {
		return "0s"
	}
	// Round to three significant digits first, so that 999.7µs becomes
	// 1ms rather than 1000µs.
	p := math.Pow(10, math.Floor(math.Log10(us))-2)
	us = math.Round(us/p) * p
	var v float64
	var unit string
	switch {
	case us < 1:
		v, unit = us*1e3, "ns"
	case us < 1e3:
		v, unit = us, "µs"
	case us < 1e6:
		v, unit = us/1e3, "ms"
	case us < 60e6:
		v, unit = us/1e6, "s"
	default:
		return time.Duration(us * float64(time.Microsecond)).Round(time.Second).String()
	}
	decimals := max(0, 2-int(math.Floor(math.Log10(v)+1e-9)))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}
