// Package coordinator is Gale's control plane: desired state in etcd, the
// elected leader that turns it into task assignments, and (next) the
// Coordinator gRPC API every node serves.
//
// # State in etcd
//
//	/gale/v1/topologies/<name>   TopologyRecord: spec, run id, desired state
//	/gale/v1/assignments/<name>  Assignment: task id -> node, written by the leader
//	/gale/v1/nodes/<name>        NodeInfo, under the node's lease (liveness)
//	/gale/v1/finished/<name>/<node>  FinishedTasks: tasks of a run that ended on that node
//	/gale/v1/leader/...          the election (concurrency.Election)
//
// Nothing tells a node what to run except the assignment it watches.
//
// # Finished topologies
//
// A finite run ends when every spout and bolt task has ended. Nodes report
// the tasks that ended on them (not under their lease: a finished task
// stays finished if its node goes); once the reports for the current run
// cover every task, the leader writes state FINISHED, fenced like its
// assignments and by the record's revision. A finished topology is no
// longer scheduled: its last assignment stays as the record of where it
// ran, and nodes joining or leaving start none of its tasks. Activating it
// is refused (ErrFinished); a rebalance runs it again as a new run.
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
