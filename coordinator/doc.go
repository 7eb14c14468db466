// Package coordinator is Gale's control plane: desired state in etcd, the
// elected leader that turns it into task assignments, and (next) the
// Coordinator gRPC API every node serves.
//
// # State in etcd
//
//	/gale/v1/topologies/<name>   TopologyRecord: spec, run id, desired state
//	/gale/v1/assignments/<name>  Assignment: task id -> node, written by the leader
//	/gale/v1/nodes/<name>        NodeInfo, under the node's lease (liveness)
//	/gale/v1/leader/...          the election (concurrency.Election)
//
// Nothing tells a node what to run except the assignment it watches.
//
// # Fencing
//
// An etcd lock or election alone does not give mutual exclusion: a leader
// that stalls past its session TTL may still act as leader for a moment
// after another node took over. So every assignment write is a transaction
// that compares the create revision of this leader's election key with the
// one it campaigned with: once the key is gone (session expired, resigned)
// or belongs to a new leader, the write fails with ErrNotLeader instead of
// overwriting the new leader's decisions.
//
// # Scheduling
//
// Schedule is a pure function: balanced by node slots across all
// topologies, and stable (a node joining or leaving moves as few tasks as
// possible; Storm's default scheduler reshuffles instead).
package coordinator
