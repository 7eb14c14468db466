package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

func startMember(t *testing.T, name string, meta MemberMeta) *Membership {
	t.Helper()
	m, err := StartMembership(MembershipConfig{Name: name, BindAddr: "127.0.0.1:0", Meta: meta, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Leave(time.Second) })
	return m
}

func TestGossipCarriesMetadataAndNoticesFailures(t *testing.T) {
	a := startMember(t, "a", MemberMeta{GRPCAddr: "127.0.0.1:7001", Slots: 2, Version: "v", Etcd: []string{"http://127.0.0.1:2379"}})
	b := startMember(t, "b", MemberMeta{GRPCAddr: "127.0.0.1:7002", Slots: 1})
	c := startMember(t, "c", MemberMeta{GRPCAddr: "127.0.0.1:7003", Slots: 1})
	if err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Join([]string{b.Addr()}); err != nil { // learns a through b
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		ms := c.Members()
		if len(ms) != 3 {
			return fmt.Errorf("c sees %d members", len(ms))
		}
		if ms[0].Name != "a" || ms[0].Meta.GRPCAddr != "127.0.0.1:7001" || ms[0].Meta.Slots != 2 {
			return fmt.Errorf("c sees a as %+v", ms[0])
		}
		return nil
	})
	if eps := c.EtcdEndpoints(); len(eps) != 1 || eps[0] != "http://127.0.0.1:2379" {
		t.Fatalf("etcd endpoints through gossip: %v", eps)
	}
	waitFor(t, 10*time.Second, func() error {
		if n := len(a.Members()); n != 3 {
			return fmt.Errorf("a sees %d members", n)
		}
		return nil
	})
	// b stops without leaving (as if killed): the others notice.
	changed := a.Changed()
	start := time.Now()
	b.Shutdown()
	waitFor(t, 10*time.Second, func() error {
		for _, m := range a.Members() {
			if m.Name == "b" {
				return errors.New("a still sees b")
			}
		}
		return nil
	})
	t.Logf("failure of b noticed in %v", time.Since(start).Round(time.Millisecond))
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not signalled")
	}
	if err := a.Join([]string{"127.0.0.1:1"}); err == nil {
		t.Fatal("joining a dead address succeeded")
	}
}

// A node whose --join names a node that is down, and that is in the gossip
// of other nodes all the same (it joined the registered ones), stops
// trying --join: it warned every 5 s that it could not join gossip, for as
// long as that node stayed down.
func TestJoinGossipStopsOnceInTheGossipOfOthers(t *testing.T) {
	a := startMember(t, "a", MemberMeta{})
	b := startMember(t, "b", MemberMeta{})
	dead := startMember(t, "dead", MemberMeta{})
	deadAddr := dead.Addr()
	dead.Leave(time.Second)
	p := &Peer{cfg: PeerConfig{Name: "a", Join: []string{deadAddr}}, gossip: a, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first := a.Join(p.cfg.Join)
	if first == nil {
		t.Fatal("joined a node that left")
	}
	if err := a.Join([]string{b.Addr()}); err != nil { // as joinRegistered does
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := p.joinGossip(ctx, first); err != nil {
		t.Fatalf("joinGossip = %v, want nil once gossip knows b", err)
	}
	if ctx.Err() != nil {
		t.Fatal("joinGossip went on until its context ended")
	}
}

// A node that joins without --etcd takes the etcd endpoints most members
// use, then the longest list: it took the first member's by name, so one
// node started with a single endpoint of three handed that one endpoint to
// every node that joined after it.
func TestChooseEtcdPrefersTheCommonAndLongestList(t *testing.T) {
	all := []string{"http://e1:2379", "http://e2:2379", "http://e3:2379"}
	one := []string{"http://e2:2379"}
	m := func(name string, etcd []string) Member { return Member{Name: name, Meta: MemberMeta{Etcd: etcd}} }
	for _, c := range []struct {
		name    string
		members []Member
		want    []string
	}{
		{"none", []Member{m("a", nil)}, nil},
		{"a single-endpoint node sorts first", []Member{m("a4", one), m("n2", all), m("n3", all)}, all},
		{"a tie goes to the longer list", []Member{m("a4", one), m("n2", all)}, all},
		{"the most common list", []Member{m("a", all), m("b", one), m("c", one)}, one},
		{"nodes without a list do not count", []Member{m("a", nil), m("b", one)}, one},
		{"the same list in another order counts as one", []Member{m("a", one), m("b", one), m("c", all), m("d", []string{all[2], all[0], all[1]}), m("e", []string{all[1], all[0], all[2]})}, all},
	} {
		if got := chooseEtcd(c.members); !slices.Equal(got, c.want) {
			t.Errorf("%s: chooseEtcd = %v, want %v", c.name, got, c.want)
		}
	}
}
