package etcdtest

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStartReportsATakenPort: etcd on a port another process holds exits
// at once; start says so with etcd's own words, which StartServer's retry
// looks for, and leaves nothing running.
func TestStartReportsATakenPort(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip("no etcd binary on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := &Server{bin: bin, dir: t.TempDir(), client: "http://" + l.Addr().String(), peer: "http://" + FreeAddr(t)}
	out, err := s.start()
	if err == nil || !strings.Contains(err.Error(), "exited before it served") || !strings.Contains(out, "address already in use") {
		t.Fatalf("start on a taken port: %v\n%s", err, out)
	}
	if s.cmd != nil {
		t.Fatal("the failed process is still referenced")
	}
	// StartServer itself finds free ports.
	if eps := Start(t); len(eps) != 1 || eps[0] == s.client {
		t.Fatalf("endpoints %v", eps)
	}
}
