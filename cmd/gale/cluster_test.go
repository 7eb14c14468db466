package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// These tests need no server: argument errors, local spec checks, an
// unreachable address, and the pure helpers. End-to-end tests against a
// real `gale node` live with the node command.

// noNode is an address where nothing listens, so that a network attempt
// fails fast and recognisably.
const noNode = "127.0.0.1:1"

func TestClusterUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"submit-no-file", []string{"submit", "--addr", noNode}, []string{"want exactly one topology file, got 0"}},
		{"submit-two-files", []string{"submit", "a.yaml", "b.yaml", "--addr", noNode}, []string{"got 2"}},
		{"submit-bad-conf", []string{"submit", "examples/wordcount/topology.yaml", "--conf", "novalue", "--addr", noNode}, []string{"novalue", "key=value"}},
		{"submit-unknown-flag", []string{"submit", "examples/wordcount/topology.yaml", "--bogus"}, []string{"bogus"}},
		{"dev-bad-conf", []string{"dev", "--conf", "novalue", "--grpc-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0"}, []string{"--conf novalue", "key=value"}},
		{"dev-conf-of-a-flag", []string{"dev", "--conf", "ingest.addr=127.0.0.1:9000", "--grpc-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0"}, []string{"gale dev sets ingest.addr from --ingest-addr; use that flag"}},
		{"list-extra-arg", []string{"list", "extra", "--addr", noNode}, []string{"unexpected arguments", "extra"}},
		{"nodes-extra-arg", []string{"nodes", "extra", "--addr", noNode}, []string{"unexpected arguments"}},
		{"status-no-name", []string{"status", "--addr", noNode}, []string{"want one topology NAME, got 0"}},
		{"status-two-names", []string{"status", "a", "b", "--addr", noNode}, []string{"got 2"}},
		{"kill-no-name", []string{"kill", "--addr", noNode}, []string{"want one topology NAME"}},
		{"kill-negative-wait", []string{"kill", "wc", "--wait", "-1", "--addr", noNode}, []string{"--wait -1"}},
		{"kill-bad-wait", []string{"kill", "wc", "--wait", "soon", "--addr", noNode}, []string{"wait"}},
		{"kill-wait-over-a-day", []string{"kill", "wc", "--wait", "100000000", "--addr", noNode}, []string{"--wait 100000000", "0 to 86400"}},
		{"activate-no-name", []string{"activate", "--addr", noNode}, []string{"want one topology NAME"}},
		{"deactivate-extra", []string{"deactivate", "a", "b", "--addr", noNode}, []string{"got 2"}},
		{"rebalance-no-name", []string{"rebalance", "--parallelism", "count=2", "--addr", noNode}, []string{"want one topology NAME"}},
		{"rebalance-no-equals", []string{"rebalance", "wc", "--parallelism", "count", "--addr", noNode}, []string{`--parallelism "count"`, "COMPONENT=N"}},
		{"rebalance-zero", []string{"rebalance", "wc", "--parallelism", "count=0", "--addr", noNode}, []string{"0 tasks: want 1 to 10000 (__acker=0 turns acking off)"}},
		{"rebalance-too-many", []string{"rebalance", "wc", "--parallelism", "count=100000000", "--addr", noNode}, []string{"100000000 tasks: want 1 to 10000"}},
		{"rebalance-not-a-number", []string{"rebalance", "wc", "--parallelism", "pass=3=4", "--addr", noNode}, []string{`"3=4" is not a number of tasks`}},
		{"rebalance-dup", []string{"rebalance", "wc", "--parallelism", "count=2", "--parallelism", "count=3", "--addr", noNode}, []string{"more than once"}},
		{"bad-timeout", []string{"list", "--timeout", "0s", "--addr", noNode}, []string{"--timeout"}},
		{"empty-addr", []string{"list", "--addr", ""}, []string{"--addr is empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := gale(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Fatalf("stdout not empty: %q", stdout)
			}
			if strings.Contains(stderr, "no Gale node answers") {
				t.Fatalf("a usage error reached the network:\n%s", stderr)
			}
			assertNoTrace(t, stderr)
		})
	}
}

func TestClusterHelp(t *testing.T) {
	for _, c := range []string{"submit", "list", "status", "kill", "activate", "deactivate", "rebalance", "nodes"} {
		t.Run(c, func(t *testing.T) {
			_, stderr, code := gale(t, c, "-h")
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			for _, w := range []string{"usage: gale " + c, "-addr", "-timeout"} {
				if !strings.Contains(stderr, w) {
					t.Fatalf("help lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestSubmitBadSpecFailsBeforeConnecting(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`name: bad
spouts:
  - id: s
    class: wordcount.SentenceSpout
bolts:
  - id: count
    class: wordcount.WordCount
    inputs:
      - {from: s, grouping: fields, fields: [word]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stdout, stderr, code := gale(t, "submit", bad, "--addr", noNode, "--timeout", "10s")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
	}
	if !strings.Contains(stderr, "bad.yaml:9:") || !strings.Contains(stderr, "word") {
		t.Fatalf("stderr lacks file:line and the problem:\n%s", stderr)
	}
	if strings.Contains(stderr, "no Gale node answers") || stdout != "" {
		t.Fatalf("submit reached the network with a bad spec:\nstdout: %s\nstderr: %s", stdout, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v: it waited for the network", d)
	}
	assertNoTrace(t, stderr)

	_, stderr, code = gale(t, "submit", filepath.Join(dir, "absent.yaml"), "--addr", noNode)
	if code != exitUsage || !strings.Contains(stderr, "absent.yaml") {
		t.Fatalf("missing file: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestClusterUnreachableNode(t *testing.T) {
	cases := [][]string{
		{"list"},
		{"nodes"},
		{"status", "wc"},
		{"kill", "wc"},
		{"activate", "wc"},
		{"deactivate", "wc"},
		{"rebalance", "wc", "--parallelism", "count=2"},
		{"submit", "examples/wordcount/topology.yaml"},
	}
	for _, args := range cases {
		t.Run(args[0], func(t *testing.T) {
			start := time.Now()
			_, stderr, code := gale(t, append(args, "--addr", noNode, "--timeout", "1s")...)
			took := time.Since(start)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr)
			}
			if !strings.Contains(stderr, "no Gale node answers at "+noNode) {
				t.Fatalf("stderr lacks the clear error:\n%s", stderr)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Fatalf("error is %d lines, want one:\n%s", n+1, stderr)
			}
			if strings.Contains(stderr, "rpc error: code =") {
				t.Fatalf("raw gRPC status reached the user:\n%s", stderr)
			}
			if took > 4*time.Second {
				t.Fatalf("took %v with --timeout 1s", took)
			}
			assertNoTrace(t, stderr)
		})
	}
}

func TestClusterAddrFromEnv(t *testing.T) {
	// GALE_ADDR is used when --addr is not given; the flag wins over it.
	t.Setenv("GALE_ADDR", noNode)
	_, stderr, code := gale(t, "list", "--timeout", "1s")
	if code != exitFailed || !strings.Contains(stderr, "no Gale node answers at "+noNode) {
		t.Fatalf("GALE_ADDR ignored: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = gale(t, "list", "--timeout", "1s", "--addr", "127.0.0.1:2")
	if code != exitFailed || !strings.Contains(stderr, "no Gale node answers at 127.0.0.1:2") {
		t.Fatalf("--addr did not win over GALE_ADDR: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestParseParallelism(t *testing.T) {
	cases := []struct {
		name    string
		in      []string
		want    map[string]int32
		wantErr string
	}{
		{"none", nil, map[string]int32{}, ""},
		{"one", []string{"count=4"}, map[string]int32{"count": 4}, ""},
		{"several", []string{"split=2", "count=8"}, map[string]int32{"split": 2, "count": 8}, ""},
		{"spaces", []string{" count = 3 "}, map[string]int32{"count": 3}, ""},
		{"max", []string{"count=10000"}, map[string]int32{"count": 10000}, ""},
		{"over-max", []string{"count=10001"}, nil, "10001 tasks: want 1 to 10000"},
		{"max-int32", []string{"count=2147483647"}, nil, "2147483647 tasks: want 1 to 10000"},
		{"missing-equals", []string{"count"}, nil, "want COMPONENT=N"},
		{"empty-component", []string{"=3"}, nil, "component before '=' is empty"},
		{"blank-component", []string{"  =3"}, nil, "component before '=' is empty"},
		{"empty-number", []string{"count="}, nil, `"" is not a number of tasks`},
		{"zero", []string{"count=0"}, nil, "0 tasks: want 1 to 10000"},
		{"negative", []string{"count=-2"}, nil, "-2 tasks: want 1 to 10000"},
		{"not-a-number", []string{"count=four"}, nil, `"four" is not a number of tasks`},
		{"fraction", []string{"count=1.5"}, nil, `"1.5" is not a number of tasks`},
		{"overflow", []string{"count=99999999999999999999"}, nil, `"99999999999999999999" is not a number of tasks`},
		{"acking-off", []string{"__acker=0"}, map[string]int32{"__acker": 0}, ""},
		{"duplicate", []string{"count=2", "split=1", "count=3"}, nil, "more than once"},
		{"duplicate-after-trim", []string{"count=2", " count=3"}, nil, "more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseParallelism(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("error %v is not a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFormatLatency(t *testing.T) {
	h := func(p50, p99 float64, counts ...uint64) *galev1.LatencyHistogram {
		return &galev1.LatencyHistogram{P50Micros: p50, P99Micros: p99, Counts: counts}
	}
	cases := []struct {
		name string
		h    *galev1.LatencyHistogram
		want string
	}{
		{"nil", nil, "-"},
		{"no-counts", h(1200, 850), "-"},
		{"zero-counts", h(1200, 850, 0, 0, 0), "-"},
		{"ms-and-µs", h(1200, 850, 3, 0, 1), "1.2ms/850µs"},
		{"ns", h(0.5, 0.125, 1), "500ns/125ns"},
		{"small-µs", h(1.5, 12.34, 1), "1.5µs/12.3µs"},
		{"round-up-unit", h(999.7, 999_700, 1), "1ms/1s"},
		{"seconds", h(2_500_000, 59_000_000, 1), "2.5s/59s"},
		{"minutes", h(125_000_000, 3_600_000_000, 1), "2m5s/1h0m0s"},
		{"zero", h(0, 3, 1), "0s/3µs"},
		{"whole-ms", h(100_000, 10_000, 1), "100ms/10ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatLatency(tc.h); got != tc.want {
				t.Fatalf("formatLatency = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFormatQueue(t *testing.T) {
	cases := []struct {
		name              string
		q                 *galev1.QueueState
		queue, full, wait string
	}{
		{"spout", nil, "-", "-", "-"},
		{"no-bound", &galev1.QueueState{}, "-", "-", "-"},
		{"idle", &galev1.QueueState{CapacityBatches: 64, CapacityBytes: 32 << 20}, "0/64", "0%", "0s"},
		{"by-batches", &galev1.QueueState{Batches: 48, CapacityBatches: 64, Bytes: 1 << 20, CapacityBytes: 32 << 20, HeadAgeMicros: 12_300}, "48/64", "75%", "12.3ms"},
		// Large tuples fill the byte bound with few batches.
		{"by-bytes", &galev1.QueueState{Batches: 3, CapacityBatches: 64, Bytes: 31 << 20, CapacityBytes: 32 << 20, HeadAgeMicros: 2_500_000}, "3/64", "97%", "2.5s"},
		{"overflow", &galev1.QueueState{Batches: 64, CapacityBatches: 64, OverflowBatches: 7, CapacityBytes: 32 << 20, HeadAgeMicros: 900}, "64/64+7", "100%", "900µs"},
		// One batch always gets in, over the byte bound: still 100%.
		{"over-bytes", &galev1.QueueState{Batches: 1, CapacityBatches: 64, Bytes: 40 << 20, CapacityBytes: 32 << 20}, "1/64", "100%", "0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			queue, full, wait := formatQueue(tc.q)
			if queue != tc.queue || full != tc.full || wait != tc.wait {
				t.Fatalf("formatQueue = %q %q %q, want %q %q %q", queue, full, wait, tc.queue, tc.full, tc.wait)
			}
		})
	}
}

func TestFullestQueue(t *testing.T) {
	q := func(batches uint32) *galev1.QueueState {
		return &galev1.QueueState{Batches: batches, CapacityBatches: 64, CapacityBytes: 32 << 20}
	}
	cases := []struct {
		name  string
		tasks []*galev1.TaskStatus
		want  string
	}{
		{"spout", []*galev1.TaskStatus{{TaskId: 1}}, "-"},
		{"none", nil, "-"},
		{"idle", []*galev1.TaskStatus{{TaskId: 4, Queue: q(0)}, {TaskId: 5, Queue: q(0)}}, "0% (task 4)"},
		{"one-full", []*galev1.TaskStatus{{TaskId: 2, Queue: q(8)}, {TaskId: 3, Queue: q(64)}}, "100% (task 3)"},
		{"unreported-task", []*galev1.TaskStatus{{TaskId: 2}, {TaskId: 3, Queue: q(16)}}, "25% (task 3)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fullestQueue(tc.tasks); got != tc.want {
				t.Fatalf("fullestQueue = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRPCErrorMapping(t *testing.T) {
	const addr = "127.0.0.1:7070"
	cases := []struct {
		name, rpc, topo string
		err             error
		want            string
		usage           bool
	}{
		{"not-found", "KillTopology", "wc", status.Error(codes.NotFound, "topology wc: not found in etcd"), "topology wc not found", false},
		{"already-exists", "SubmitTopology", "wc", status.Error(codes.AlreadyExists, "name taken"), "a topology named wc already exists (gale kill wc first; a finished one runs again with gale rebalance wc)", false},
		{"failed-precondition", "ActivateTopology", "wc", status.Error(codes.FailedPrecondition, "topology wc has finished; rebalance it to run it again"), "topology wc has finished; rebalance it to run it again", false},
		{"invalid-argument", "RebalanceTopology", "wc", status.Error(codes.InvalidArgument, `component "cnt": no such component`), `component "cnt": no such component`, true},
		{"unimplemented", "ActivateTopology", "wc", status.Error(codes.Unimplemented, "unknown method ActivateTopology"), "the node at " + addr + " does not support ActivateTopology yet", false},
		{"http-not-grpc", "ListNodes", "", status.Error(codes.Unimplemented, "unexpected HTTP status code received from server: 404 (Not Found)"), "is not a Gale node", false},
		{"deadline", "ListTopologies", "", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "ListTopologies failed: the node at " + addr + " did not answer within 5s", false},
		{"other", "KillTopology", "wc", status.Error(codes.Internal, "etcd: lost lease"), "KillTopology failed: etcd: lost lease", false},
		{"not-found-without-topology", "ListNodes", "", status.Error(codes.NotFound, "gone"), "ListNodes failed: gone", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := rpcError(tc.err, tc.rpc, tc.topo, addr, 5*time.Second)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "rpc error") {
				t.Fatalf("raw status in %q", err)
			}
			if tc.name == "failed-precondition" && err.Error() != tc.want {
				t.Fatalf("got %q, want the node's sentence alone", err)
			}
			var ue usageError
			if errors.As(err, &ue) != tc.usage {
				t.Fatalf("usage error = %v, want %v", !tc.usage, tc.usage)
			}
		})
	}
}

func TestFormatUptime(t *testing.T) {
	for sec, want := range map[int64]string{0: "0s", 42: "42s", 303: "5m3s", 3600: "1h0m", 12300: "3h25m", 183600: "2d3h"} {
		if got := formatUptime(sec); got != want {
			t.Errorf("formatUptime(%d) = %q, want %q", sec, got, want)
		}
	}
}

func assertNoTrace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Fatalf("stack trace or panic reached the user:\n%s", stderr)
	}
}
