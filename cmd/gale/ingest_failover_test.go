package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/coordinator/etcdtest"
	"github.com/gale-stream/gale/examples/failover"
)

// TestIngestLosesNothingWhenItsNodeIsKilled: the HTTP ingest answers a
// batch only once its events were processed (ingest.confirm: processed), so
// a client that resends what was not answered loses nothing when the node
// running the ingest is killed with -9 in the middle of the stream. Two
// `gale node` processes on a real etcd; the ingest task moves to the
// survivor and listens on the same port; a file sink writes each event's
// ts, and every ts the client sent must be in a sink file.
func TestIngestLosesNothingWhenItsNodeIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process failover test")
	}
	etcd := strings.Join(etcdtest.Start(t), ",")
	n1 := startNodeProc(t, "n1", "--etcd", etcd)
	n2 := startNodeProc(t, "n2", "--etcd", etcd, "--join", n1.gossip)
	nodes := map[string]*nodeProc{"n1": n1, "n2": n2}
	cli := func(addr string, args ...string) (string, error) { return cliAt(t, addr, args...) }
	waitFor := func(what string, d time.Duration, cond func() bool) { t.Helper(); waitUntil(t, d, what, cond) }
	waitFor("two nodes", 30*time.Second, func() bool {
		out, err := cli(n1.grpc, "nodes")
		return err == nil && strings.Count(strings.TrimSpace(out), "\n") == 2
	})

	dir := t.TempDir()
	ingestAddr := freePort(t)
	spec := filepath.Join(t.TempDir(), "ingest-failover.yaml")
	yaml := fmt.Sprintf(`name: ingestfo
config:
  topology.message.timeout.secs: 5
  ingest.addr: %q
  filesink.dir: %q
  filesink.field: ts
spouts:
  - id: ingest
    class: gale.HTTPIngest
    parallelism: 1
bolts:
  - id: sink
    class: failover.FileSink
    parallelism: 2
    inputs: [{from: ingest, grouping: shuffle}]
`, ingestAddr, dir)
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(n1.grpc, "submit", spec); err != nil {
		t.Fatal(err)
	}
	// ingestNode is the node the status shows running the ingest task.
	ingestNode := func(addr string) string {
		out, err := cli(addr, "status", "ingestfo")
		if err != nil {
			return ""
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[1] == "ingest" {
				if _, ok := nodes[f[2]]; ok {
					return f[2]
				}
			}
		}
		return ""
	}

	// The client: batches of 50 events whose ts are 0..count-1, each
	// posted until it is answered 200, as tracker.js does.
	const count, per = 6000, 50
	var confirmed, resends atomic.Int64
	clientDone := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		url := "http://" + ingestAddr + "/events"
		deadline := time.Now().Add(90 * time.Second)
		for first := 0; first < count; {
			var b strings.Builder
			b.WriteByte('[')
			for ts := first; ts < first+per; ts++ {
				if ts > first {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"visitor":"v%d","ts":%d,"type":"scroll","page":"/","depth":0.5}`, ts/per, ts)
			}
			b.WriteByte(']')
			resp, err := client.Post(url, "text/plain", strings.NewReader(b.String()))
			status := 0
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			switch {
			case status == http.StatusOK || status == http.StatusAccepted: // 202: ingest.confirm: received
				first += per
				confirmed.Store(int64(first))
				time.Sleep(10 * time.Millisecond) // a steady stream, not a burst
			case status == 0 || status == http.StatusServiceUnavailable:
				if time.Now().After(deadline) {
					clientDone <- fmt.Errorf("batch at ts %d never confirmed (last: %d %v)", first, status, err)
					return
				}
				resends.Add(1)
				time.Sleep(50 * time.Millisecond)
			default:
				clientDone <- fmt.Errorf("batch at ts %d: HTTP %d", first, status)
				return
			}
		}
		clientDone <- nil
	}()

	var victim string
	waitFor("the client to get a fifth of its batches confirmed", 60*time.Second, func() bool {
		victim = ingestNode(n1.grpc)
		return victim != "" && confirmed.Load() >= count/5
	})
	survivor := n1
	if victim == "n1" {
		survivor = n2
	}
	// Make sure the kill finds events taken in but not processed:
	// deactivated, the spout stops emitting while its HTTP server still
	// takes batches in. (With ingest.confirm: received they would have
	// been answered 202, and the kill loses them: this test fails.)
	if _, err := cli(n1.grpc, "deactivate", "ingestfo"); err != nil {
		t.Fatal(err)
	}
	waitFor("a batch to wait in the ingest", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + ingestAddr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var h struct{ Pending int }
		return json.NewDecoder(resp.Body).Decode(&h) == nil && h.Pending >= per
	})
	nodes[victim].kill9(t)
	killed := time.Now()
	at := confirmed.Load()
	waitFor("the survivor to take the activation", 30*time.Second, func() bool {
		_, err := cli(survivor.grpc, "activate", "ingestfo")
		return err == nil
	})
	waitFor("the ingest to run on the survivor", 30*time.Second, func() bool { return ingestNode(survivor.grpc) == survivor.name })
	t.Logf("kill -9 of %s (running the ingest, deactivated, a batch waiting) after %d of %d events were confirmed; the ingest ran on %s %v later",
		victim, at, count, survivor.name, time.Since(killed).Round(time.Millisecond))

	select {
	case err := <-clientDone:
		if err != nil {
			t.Fatalf("%v\nsurvivor log:\n%s", err, survivor.stderr.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatal("the client did not finish")
	}
	if resends.Load() == 0 {
		t.Fatal("no batch was resent: the kill did not interrupt the stream, so this run proves nothing")
	}
	// Every confirmed event is in a sink file already: the 200 came after
	// its tree completed, and the sink writes before it acks.
	res, err := failover.CheckDir(dir, count)
	if err != nil || !res.OK() {
		var buf bytes.Buffer
		if res != nil {
			res.Report(&buf)
		}
		t.Fatalf("not every confirmed event reached a sink: %v\n%s", err, buf.String())
	}
	var buf bytes.Buffer
	res.Report(&buf)
	t.Logf("%d resends; sink files: %s", resends.Load(), strings.TrimSpace(buf.String()))
}
