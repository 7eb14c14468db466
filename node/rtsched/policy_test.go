package rtsched

import (
	"strings"
	"testing"
)

func TestEnableRejectsABadPriority(t *testing.T) {
	for _, p := range []int{0, -1, 100} {
		if err := Enable(p); err == nil || !strings.Contains(err.Error(), "want 1 to 99") {
			t.Errorf("Enable(%d) = %v, want a priority error", p, err)
		}
	}
}

func TestPolicyNames(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{0, 0}, "SCHED_OTHER"},
		{Policy{2, 1}, "SCHED_RR/1"},
		{Policy{1, 50}, "SCHED_FIFO/50"},
		{Policy{9, 0}, "policy 9"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}
