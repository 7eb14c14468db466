package node

import (
	"context"
	"fmt"

	"github.com/gale-stream/gale/node/transfer"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// The Runtime is the transfer.Receiver of its run: frames from other
// nodes land in the same queues local emitters use.

// Sources implements transfer.Receiver.
func (rt *Runtime) Sources() transfer.Sources {
	return func(task int32, stream string) *sdk.Source {
		if task < 1 || int(task) >= len(rt.tasks) {
			return nil
		}
		if os := rt.tasks[task].comp.streams[stream]; os != nil {
			return os.src
		}
		return nil
	}
}

func (rt *Runtime) localTask(id int32) *task {
	if id < 1 || int(id) >= len(rt.tasks) || !rt.tasks[id].local {
		return nil
	}
	return rt.tasks[id]
}

// Deliver implements transfer.Receiver: it blocks while the task's queue
// is full, which stops the stream and so the sender.
func (rt *Runtime) Deliver(ctx context.Context, dest int32, b *router.Batch) error {
	t := rt.localTask(dest)
	if t == nil || t.comp.system {
		b.Release()
		return fmt.Errorf("task %d: %w", dest, transfer.ErrTaskNotHere)
	}
	if err := t.inbox.Push(ctx, b); err != nil {
		b.Release()
		return err
	}
	return nil
}

// Acks implements transfer.Receiver: tree operations go to the acker the
// root id picks, results to the spout task that owns the tree.
func (rt *Runtime) Acks(ctx context.Context, ops []router.AckOp) error {
	if len(rt.ackers) == 0 {
		return nil
	}
	batches := map[int32]*router.Batch{}
	results := map[int32][]router.AckOp{}
	for _, op := range ops {
		switch op.Kind {
		case router.AckCompleted, router.AckFailed:
			if t := rt.localTask(op.Task); t != nil && t.ctrl != nil {
				results[op.Task] = append(results[op.Task], op)
			}
		default:
			dest := rt.ackers[op.Root%uint64(len(rt.ackers))]
			if rt.localTask(dest) == nil {
				continue // the sender's assignment is stale; the tree times out
			}
			b := batches[dest]
			if b == nil {
				b = router.NewBatch()
				b.Born = router.Nanotime()
				batches[dest] = b
			}
			b.Acks = append(b.Acks, op)
		}
	}
	for task, r := range results {
		rt.tasks[task].ctrl.push(r)
	}
	var first error
	for dest, b := range batches {
		if first != nil {
			b.Release()
			continue
		}
		if err := rt.tasks[dest].inbox.Push(ctx, b); err != nil {
			b.Release()
			first = err
		}
	}
	return first
}

// EndOfInput implements transfer.Receiver.
func (rt *Runtime) EndOfInput(ctx context.Context, from int32, to []int32) error {
	for _, id := range to {
		t := rt.localTask(id)
		if t == nil {
			continue
		}
		b := router.NewBatch()
		b.Born = router.Nanotime()
		b.EndOfInput = from
		if err := t.inbox.Push(ctx, b); err != nil {
			b.Release()
			return err
		}
	}
	return nil
}

var _ transfer.Receiver = (*Runtime)(nil)
