package coordinator

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gale-stream/gale/coordinator/etcdtest"
)

// forEachEtcd runs a test against the embedded etcd and against a real
// external etcd server process (see package etcdtest).
func forEachEtcd(t *testing.T, test func(t *testing.T, c *clientv3.Client)) {
	t.Run("embedded", func(t *testing.T) { test(t, startEtcd(t)) })
	t.Run("external", func(t *testing.T) { test(t, etcdtest.Client(t)) })
}
