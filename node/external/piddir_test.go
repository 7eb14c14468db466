package external

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPidDirsOfDeadNodesAreSwept(t *testing.T) {
	tmp := t.TempDir()
	me := os.Getpid()
	dirs := []string{
		"gale-multilang-111-1",                 // dead node
		"gale-multilang-111-2",                 // dead node, second session
		"gale-multilang-222-1",                 // live node
		fmt.Sprintf("gale-multilang-%d-1", me), // this process
		"gale-multilang-123456789",             // an older node's name: no pid
		"gale-multilang-x-1",                   // not a pid
		"other-111-1",                          // not ours
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(tmp, d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "gale-multilang-333-1"), nil, 0o644); err != nil {
		t.Fatal(err) // a file, not a directory
	}
	sweepPidDirs(tmp, func(pid int) bool { return pid == 222 })
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{"gale-multilang-222-1", fmt.Sprintf("gale-multilang-%d-1", me), "gale-multilang-123456789", "gale-multilang-x-1", "other-111-1", "gale-multilang-333-1"}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("left %s, want %s", strings.Join(left, " "), strings.Join(want, " "))
	}
}

func TestMakePidDirNamesThisProcess(t *testing.T) {
	dir, err := makePidDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if want := fmt.Sprintf("gale-multilang-%d-", os.Getpid()); !strings.HasPrefix(filepath.Base(dir), want) {
		t.Fatalf("pid directory %s, want a name starting %s", dir, want)
	}
	if !processAlive(os.Getpid()) {
		t.Fatal("this process reported dead")
	}
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	if processAlive(ended.Process.Pid) {
		t.Fatalf("process %d reported alive after it ended", ended.Process.Pid)
	}
}
