package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"time"

	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// executor runs one spout or bolt task on its own goroutine. It is the
// sdk.Emitter behind the task's collector: emits are routed by the
// subscriptions' groupers into the outbox, which batches per destination
// task and delivers full or lingering batches to the destinations' queues
// (blocking while they are full: backpressure).
type executor struct {
	rt     *Runtime
	t      *task
	comp   *component
	tc     *sdk.TaskContext
	ctx    context.Context
	panics int // panics recovered in Execute (the first logs its stack)
	// sendFailures counts sends to other nodes that failed since the last
	// report, made at sendFailureAt (reportSendFailure).
	sendFailures  int
	sendFailureAt int64
	// sendFailedSince holds, per destination task, when sends to it began
	// to fail; a send to it that goes out removes it. Per destination: a
	// task that sends to several nodes, one of them down, has sends that
	// go out all the time, and one clock for all never passed the grace.
	sendFailedSince map[int32]int64

	out    *router.Outbox
	routes map[string]*route
	defRt  *route
	dst    []int
	anch   []sdk.Anchor
	rng    uint64
	now    int64
	stats  taskStats
	hist   Histogram
	// histPublished is when hist was last merged into the task's shared
	// histogram (see publishLatency).
	histPublished int64
	// proc holds bolts' sampled Execute times until they are merged into
	// the task's process histogram, at most once a millisecond.
	proc          Histogram
	procPublished int64
	nAck          uint64
	ackers        []int32
	localAckers   []uint64 // indexes into ackers of the acker tasks here (findLocalAckers)

	failRoots []uint64 // trees to fail: their tuples could not be sent
	rootTask  uint64   // this task's id where nextRoot puts it in a root
	localGen  uint64   // Runtime.localGen the groupers were built for
	// trackRoutes makes emits record their destination tasks in routed
	// (Storm multilang scripts are told where each emit went).
	trackRoutes bool
	routed      []int32
	lastSweep   int64 // spouts: last sweep for lost acker results
	// lostAckersSeen and lostAckersAt are the Runtime.lostAckers
	// generation and loss time this spout has failed the trees of.
	lostAckersSeen uint64
	lostAckersAt   int64
	idleGap        int64   // Settings.IdleFlushGap
	idleMin        int     // batches this full go at once when idle
	idleCredit     float64 // idle-flush tokens
	creditAt       int64   // when idleCredit was last refilled

	// spout state
	spout     sdk.Spout
	pending   *pendingTable
	ended     bool
	emits     uint64
	immediate []uint64 // reliable emits to ack at once (acking off)
	// immediateSpare is the other buffer ackImmediate swaps with immediate.
	immediateSpare []uint64
	ctrlSpare      []router.AckOp
	wasActive      bool
	maxPending     int
	// alive notes when the acker last said that a bolt touched a pending
	// tree (AckAlive, from ResetTimeout), so that the sweep for lost
	// results spares it; an entry goes when its tree leaves pending.
	alive map[uint64]int64
	// refails and deferred are the replay backoff (replaybackoff.go).
	refails       map[uint64]refail
	deferred      deferredFails
	refailsPruned int64

	// bolt state
	bolt    sdk.Bolt
	upEnded map[int32]bool // upstream tasks whose end-of-input marker came
}

// firstMarker records the end-of-input marker of upstream task from and
// reports whether it is the first from that task. Markers from other
// nodes are sent again whenever a stream is reopened (one may have been
// lost with the old stream), so a task can see a marker twice.
func (e *executor) firstMarker(from int32) bool {
	if e.upEnded == nil {
		e.upEnded = map[int32]bool{}
	}
	if e.upEnded[from] {
		return false
	}
	e.upEnded[from] = true
	return true
}

type route struct {
	s        *outStream
	groupers []router.Grouper
}

func newExecutor(ctx context.Context, rt *Runtime, t *task, compTasks map[string][]int32) *executor {
	e := &executor{rt: rt, t: t, comp: t.comp, ctx: ctx, routes: map[string]*route{}, ackers: rt.ackers}
	e.nAck = uint64(len(rt.ackers))
	e.rootTask = uint64(t.id) << rootTaskShift
	e.rng = seed(uint64(t.id))
	e.tc = &sdk.TaskContext{
		Topology:       rt.spec.GetName(),
		TopologyID:     rt.id,
		Component:      t.comp.id,
		TaskID:         t.id,
		TaskIndex:      t.index,
		Config:         t.comp.cfg,
		ComponentTasks: compTasks,
		Inputs:         sdk.InputsFromSpecs(t.comp.spec.GetInputs(), rt.streamFields),
		Log:            rt.log.With("component", t.comp.id, "task", t.id),
	}
	e.out = router.NewOutbox(int32(len(rt.tasks)-1), rt.settings.BatchSize, rt.settings.BatchLinger, e.deliver)
	e.out.SetMaxBytes(rt.settings.BatchBytes)
	e.sizeBatches()
	e.findLocalAckers()
	e.maxPending = rt.settings.MaxSpoutPending
	e.idleGap = int64(rt.settings.IdleFlushGap)
	e.idleMin = max(rt.settings.BatchSize/8, 1)
	if mp, err := configInt(t.comp.cfg, KeyMaxSpoutPend, int64(e.maxPending)); err == nil {
		e.maxPending = int(mp) // a spout may override the topology's bound
	}
	return e
}

// deliver pushes a batch into a local task's queue, blocking while it is
// full. An acker's queue is never full for long: ackers never block.
func (e *executor) deliver(dest int32, b *router.Batch) error {
	t := e.rt.tasks[dest]
	if !t.here.Load() {
		e.deliverRemote(dest, b)
		return nil
	}
	if err := t.push(e.ctx, b); err != nil {
		b.Release()
		return err
	}
	return nil
}

// deliverRemote sends a batch to a task in another process. If it cannot
// be sent, the trees of its tuples are failed at once (they replay) rather
// than left to time out, and acker operations are held to be sent again
// (unsent.go).
func (e *executor) deliverRemote(dest int32, b *router.Batch) {
	var err error
	switch {
	case b.EndOfInput != 0:
		err = e.rt.remote.SendEndOfInput(b.EndOfInput, []int32{dest})
	case len(b.Acks) > 0:
		err = e.rt.remote.SendAcks(dest, b.Acks)
	default:
		err = e.rt.remote.SendTuples(dest, b)
	}
	var tooLarge *transfer.TooLargeError
	switch {
	case err == nil:
		if len(e.sendFailedSince) > 0 {
			delete(e.sendFailedSince, dest)
		}
	case errors.As(err, &tooLarge):
		// The other tuples went out. These never can: fail their trees
		// (the spout's Fail decides what becomes of them) and say why,
		// rather than let them replay unseen or, without acking,
		// vanish.
		e.rt.reportError(e.t, fmt.Errorf("sending to task %d: %w", dest, err))
		if e.nAck > 0 {
			for _, i := range tooLarge.Index {
				for _, a := range b.Tuples[i].Anchors {
					e.failRoots = append(e.failRoots, a.Root)
				}
			}
		}
	default:
		e.reportSendFailure(dest, b, err)
		if len(b.Acks) > 0 {
			e.rt.holdUnsent(dest, b.Acks)
		}
		if e.nAck > 0 {
			for i := range b.Tuples {
				for _, a := range b.Tuples[i].Anchors {
					e.failRoots = append(e.failRoots, a.Root)
				}
			}
		}
	}
	b.Release()
}

// sendFailureEvery bounds how often a task reports that it cannot send to
// other nodes: while a node is down its trees fail and replay, and the
// task says why at most this often, with how many sends failed meanwhile
// (a node whose certificate others refused failed every tuple with no
// word in gale status).
const sendFailureEvery = 10 * time.Second

// sendFailureGrace is how long sends must keep failing before the first
// report: a run stopped on every node (a kill, a rebalance) ends on one a
// moment before another, whose last sends then fail, and every cluster
// benchmark run logged those as errors.
const sendFailureGrace = time.Second

func (e *executor) reportSendFailure(dest int32, b *router.Batch, err error) {
	e.sendFailures++
	now := router.Nanotime()
	since, ok := e.sendFailedSince[dest]
	if !ok {
		if e.sendFailedSince == nil {
			e.sendFailedSince = map[int32]int64{}
		}
		e.sendFailedSince[dest], since = now, now
	}
	if now-since < int64(sendFailureGrace) {
		return
	}
	if e.sendFailureAt != 0 && now-e.sendFailureAt < int64(sendFailureEvery) {
		return
	}
	e.sendFailureAt = now
	n := e.sendFailures
	e.sendFailures = 0
	var what string
	switch {
	case b.EndOfInput != 0:
		what = "an end-of-input marker (sent again once the node answers)"
	case len(b.Acks) > 0:
		// Held and sent again (unsent.go): their trees time out and
		// replay only if the node stays out of reach that long.
		what = fmt.Sprintf("acker operations (held, and sent again until they are older than the message timeout, %v)", e.rt.settings.MessageTimeout)
	case e.nAck > 0:
		// Only anchored tuples have a tree to fail and replay; a bolt's
		// unanchored emits (periodic snapshots, a window's results acked
		// on receipt) are gone: saying they replay misled whoever read
		// gale status after a node died.
		anchored := 0
		for i := range b.Tuples {
			if len(b.Tuples[i].Anchors) > 0 {
				anchored++
			}
		}
		switch anchored {
		case len(b.Tuples):
			what = "tuples, whose trees failed and replay"
		case 0:
			what = "unanchored tuples, lost (no tree to replay)"
		default:
			what = fmt.Sprintf("tuples, whose trees failed and replay (%d unanchored, lost)", len(b.Tuples)-anchored)
		}
	default:
		what = "tuples, lost (acking is off)"
	}
	e.rt.reportError(e.t, fmt.Errorf("%d sends to other nodes failed since the last report; the last, to task %d, of %s: %w", n, dest, what, err))
}

// flushFailures fails the trees of tuples that could not be sent; called
// where the outbox may be used again.
func (e *executor) flushFailures() {
	for len(e.failRoots) > 0 {
		roots := e.failRoots
		e.failRoots = nil
		for _, r := range roots {
			e.sendAck(router.AckOp{Kind: router.AckFail, Root: r})
		}
	}
}

// buildRoutes makes this task's groupers: one per subscription of each of
// its output streams, seeded per task.
func (e *executor) buildRoutes() error {
	for id, os := range e.comp.streams {
		r := &route{s: os}
		for _, sub := range os.subs {
			local := make([]bool, len(sub.comp.tasks))
			for i, id := range sub.comp.tasks {
				local[i] = e.rt.tasks[id].here.Load()
			}
			g, err := router.New(sub.grouping, router.Config{
				NumTasks: len(sub.comp.tasks),
				FieldIdx: sub.fieldIdx,
				Local:    local,
				Seed:     uint64(e.t.id)*0x9e3779b97f4a7c15 + uint64(len(r.groupers)),
			})
			if err != nil {
				return fmt.Errorf("stream %s to %s: %w", id, sub.comp.id, err)
			}
			r.groupers = append(r.groupers, g)
		}
		e.routes[id] = r
		if id == sdk.DefaultStream {
			e.defRt = r
		}
	}
	return nil
}

func (e *executor) run(ctx context.Context) (err error) {
	e.localGen = e.rt.localGen.Load()
	if err := e.buildRoutes(); err != nil {
		return e.taskErr("start", err)
	}
	switch {
	case e.comp.external:
		err = e.runExternal(ctx)
	case e.comp.spout:
		err = e.runSpout(ctx)
	default:
		err = e.runBolt(ctx)
	}
	e.stats.publish(&e.t.counters)
	e.t.latency.merge(&e.hist)
	e.t.process.merge(&e.proc)
	return err
}

// publishLatency merges the spout's complete latencies into the task's
// shared histogram when it has any and at most once a millisecond: a
// paced spout idles thousands of times a second, and merging and clearing
// the whole histogram every time was a few percent of a lightly loaded
// node's CPU. Status readers see them at most a millisecond late; the
// task's end merges the rest.
func (e *executor) publishLatency() {
	if e.hist.n == 0 || e.now-e.histPublished < int64(time.Millisecond) {
		return
	}
	e.histPublished = e.now
	e.t.latency.merge(&e.hist)
}

func (e *executor) taskErr(what string, err error) error {
	return fmt.Errorf("component %s task %d: %s: %w", e.comp.id, e.t.id, what, err)
}

// safely calls f, turning a panic into an error with the panic value (the
// stack goes to the log, never to the user's terminal as a crash).
func (e *executor) safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			site := sdk.PanicSite()
			e.tc.Log.Error("panic", "in", what, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v%s", r, at(site))
		}
	}()
	return f()
}

// at is " (at SITE)" for a panic's site, "" for none.
func at(site string) string {
	if site == "" {
		return ""
	}
	return " (at " + site + ")"
}

// ---- emitting (sdk.Emitter) ----

// refreshRoutes rebuilds the groupers after Reassign moved tasks: a
// local-or-shuffle grouping prefers the tasks that run here now.
func (e *executor) refreshRoutes() {
	if g := e.rt.localGen.Load(); g != e.localGen {
		e.localGen = g
		_ = e.buildRoutes() // it succeeded at the start with the same subscriptions
		e.sizeBatches()
		e.findLocalAckers()
	}
}

// sizeBatches gives batches to tasks on other nodes their own size bound
// (Settings.RemoteBatchSize): one batch is one network frame.
func (e *executor) sizeBatches() {
	for id, t := range e.rt.tasks {
		if t == nil {
			continue
		}
		n, gap := e.rt.settings.BatchSize, time.Duration(0)
		if !t.here.Load() {
			n, gap = e.rt.settings.RemoteBatchSize, e.rt.settings.RemoteFrameGap
		}
		e.out.SetMaxSize(int32(id), n)
		e.out.SetFrameGap(int32(id), gap, n/8)
	}
}

func (e *executor) route(stream string) *route {
	e.refreshRoutes()
	if stream == "" || stream == sdk.DefaultStream {
		if e.defRt != nil {
			return e.defRt
		}
		stream = sdk.DefaultStream
	}
	if r := e.routes[stream]; r != nil {
		return r
	}
	e.ReportError(fmt.Errorf("emit to undeclared stream %q (declared: %v)", stream, streamNames(e.comp)))
	return nil
}

func streamNames(c *component) []string {
	return slices.Sorted(maps.Keys(c.streams)) // one order in every message
}

// checkEmit validates the field count and the direct task of an emit.
func (e *executor) checkEmit(r *route, values []sdk.Value, direct int32) bool {
	if len(values) != len(r.s.src.Fields) {
		e.ReportError(fmt.Errorf("emit on stream %q: %d values for fields %v", r.s.src.Stream, len(values), r.s.src.Fields))
		return false
	}
	if r.s.direct != (direct > 0) {
		if r.s.direct {
			e.ReportError(fmt.Errorf("emit on direct stream %q must name a task (EmitDirect)", r.s.src.Stream))
		} else {
			e.ReportError(fmt.Errorf("EmitDirect on stream %q, which is not declared direct", r.s.src.Stream))
		}
		return false
	}
	return true
}

// destinations appends the destination task ids of a tuple on one
// subscription.
func (e *executor) destinations(r *route, i int, values []sdk.Value, direct int32) []int {
	sub := r.s.subs[i]
	di := -1
	if direct > 0 {
		di = int(direct - sub.comp.tasks[0])
		if di < 0 || di >= len(sub.comp.tasks) {
			e.ReportError(fmt.Errorf("EmitDirect to task %d, which is not a task of %s (tasks %d..%d)", direct, sub.comp.id, sub.comp.tasks[0], sub.comp.tasks[len(sub.comp.tasks)-1]))
			return e.dst[:0]
		}
	}
	e.dst = r.groupers[i].Choose(e.dst[:0], values, di)
	return e.dst
}

// EmitBolt implements sdk.Emitter.
func (e *executor) EmitBolt(stream string, anchors []*sdk.Tuple, values []sdk.Value, direct int32) {
	r := e.route(stream)
	if r == nil || !e.checkEmit(r, values, direct) {
		return
	}
	e.stats.emitted++
	anchored := e.nAck > 0 && hasAnchors(anchors)
	for i := range r.s.subs {
		sub := r.s.subs[i]
		for _, d := range e.destinations(r, i, values, direct) {
			dest := sub.comp.tasks[d]
			if e.trackRoutes {
				e.routed = append(e.routed, dest)
			}
			b := e.out.Batch(dest, e.now)
			if !anchored {
				b.AddTuple(r.s.src, e.t.id, values, 0)
			} else if len(anchors) == 1 && len(anchors[0].Anchors) == 1 {
				// The common case: one input tuple from one tree.
				edge := e.nextID()
				a := &anchors[0].Anchors[0]
				a.ID ^= edge
				t := b.AddTuple(r.s.src, e.t.id, values, 1)
				t.Anchors[0] = sdk.Anchor{Root: a.Root, ID: edge}
			} else {
				e.anch = e.anch[:0]
				for _, in := range anchors {
					if in == nil || len(in.Anchors) == 0 {
						continue
					}
					edge := e.nextID()
					for j := range in.Anchors {
						in.Anchors[j].ID ^= edge
						e.anch = xorAnchor(e.anch, in.Anchors[j].Root, edge)
					}
				}
				t := b.AddTuple(r.s.src, e.t.id, values, len(e.anch))
				copy(t.Anchors, e.anch)
			}
			e.stats.transferred++
			if err := e.out.Added(dest); err != nil {
				return // stopping
			}
		}
	}
}

func hasAnchors(anchors []*sdk.Tuple) bool {
	for _, a := range anchors {
		if a != nil && len(a.Anchors) > 0 {
			return true
		}
	}
	return false
}

// xorAnchor adds edge to root's entry, merging anchors of the same tree
// (Storm's anchors-to-ids map).
func xorAnchor(as []sdk.Anchor, root, edge uint64) []sdk.Anchor {
	for i := range as {
		if as[i].Root == root {
			as[i].ID ^= edge
			return as
		}
	}
	return append(as, sdk.Anchor{Root: root, ID: edge})
}

// EmitSpout implements sdk.Emitter.
func (e *executor) EmitSpout(stream string, msgID uint64, reliable bool, values []sdk.Value, direct int32) {
	r := e.route(stream)
	if r == nil || !e.checkEmit(r, values, direct) {
		return
	}
	e.stats.emitted++
	e.emits++
	tracked := reliable && e.nAck > 0
	var root, xor uint64
	if tracked {
		root = e.nextRoot()
	}
	for i := range r.s.subs {
		sub := r.s.subs[i]
		for _, d := range e.destinations(r, i, values, direct) {
			dest := sub.comp.tasks[d]
			if e.trackRoutes {
				e.routed = append(e.routed, dest)
			}
			b := e.out.Batch(dest, e.now)
			if tracked {
				edge := e.nextID()
				xor ^= edge
				t := b.AddTuple(r.s.src, e.t.id, values, 1)
				t.Anchors[0] = sdk.Anchor{Root: root, ID: edge}
			} else {
				b.AddTuple(r.s.src, e.t.id, values, 0)
			}
			e.stats.transferred++
			if err := e.out.Added(dest); err != nil {
				return
			}
		}
	}
	switch {
	case tracked:
		e.pending.put(root, pendingMsg{msgID: msgID, start: e.now})
		e.sendAck(router.AckOp{Kind: router.AckInit, Root: root, Value: xor, Task: e.t.id})
	case reliable:
		// Acking is off: at-most-once, the message counts as done now.
		e.immediate = append(e.immediate, msgID)
	}
}

func (e *executor) sendAck(op router.AckOp) {
	dest := e.ackers[op.Root%e.nAck]
	e.out.Batch(dest, e.now).AddAck(op)
	_ = e.out.Added(dest)
}

// Ack implements sdk.Emitter. Ticks are not counted (nor executed).
func (e *executor) Ack(t *sdk.Tuple) {
	if t.Source == sdk.TickSource {
		return // no anchors either
	}
	e.stats.acked++
	if e.nAck == 0 {
		return
	}
	for _, a := range t.Anchors {
		e.sendAck(router.AckOp{Kind: router.AckAck, Root: a.Root, Value: a.ID})
	}
}

// Fail implements sdk.Emitter.
func (e *executor) Fail(t *sdk.Tuple) {
	if t.Source == sdk.TickSource {
		return
	}
	e.stats.failed++
	if e.nAck == 0 {
		return
	}
	for _, a := range t.Anchors {
		e.sendAck(router.AckOp{Kind: router.AckFail, Root: a.Root})
	}
}

// ResetTimeout implements sdk.TimeoutResetter: the trees of t are still
// being worked on, and their message timeout starts again (an AckTouch to
// each tree's acker, which tells the tree's spout).
func (e *executor) ResetTimeout(t *sdk.Tuple) {
	if t == nil || t.Source == sdk.TickSource || e.nAck == 0 {
		return
	}
	for _, a := range t.Anchors {
		e.sendAck(router.AckOp{Kind: router.AckTouch, Root: a.Root})
	}
}

// ReportError implements sdk.Emitter.
func (e *executor) ReportError(err error) { e.rt.reportError(e.t, err) }

// EndOfInput implements sdk.Emitter.
func (e *executor) EndOfInput() {
	if !e.comp.spout {
		e.ReportError(errors.New("End is for spouts"))
		return
	}
	e.ended = true
}

// findLocalAckers notes which acker tasks run here, for nextRoot.
func (e *executor) findLocalAckers() {
	e.localAckers = e.localAckers[:0]
	for k, id := range e.ackers {
		if e.rt.tasks[id].here.Load() {
			e.localAckers = append(e.localAckers, uint64(k))
		}
	}
}

// nextRoot returns a root id for a new tree, laid out as rootLayout
// describes: this task's id and a free slot of its pending table's ring
// (pendingTable.reserve) in the top bits and random bits below, or, with
// no slot free, random bits around a zero slot field. The random bits are
// adjusted so that the tree's acker (the root modulo the number of
// ackers) runs on this node when one does: the tree's INIT and its
// completion then stay on this node, and of its operations only the
// bolts' acks may cross the network. Which acker a tree has does not
// matter otherwise; an acker that moves takes its trees along.
func (e *executor) nextRoot() uint64 {
	var slot uint64
	if e.pending != nil {
		slot = e.pending.reserve()
	}
	high, mask := e.rootTask|slot<<rootSlotShift, uint64(rootRandomMask)
	if slot == 0 {
		high, mask = 0, rootRandomMask|rootTaskMask
	}
	for {
		id := e.nextID()
		root := high | id&mask
		if n := uint64(len(e.localAckers)); n != 0 && n != e.nAck {
			k := e.localAckers[(id>>40)%n] // bits 40+: independent of root%nAck
			root = root - root%e.nAck + k
		}
		// Below 2^53 (exact as a JavaScript number), still in its slot,
		// and with this task's id if it has a slot.
		if root != 0 && root < 1<<53 && root&^mask == high {
			return root
		}
	}
}

// nextID returns a random id in [1, 2^53): exact as a JavaScript number.
func (e *executor) nextID() uint64 {
	for {
		// splitmix64: fast, and good enough to make xor collisions of
		// unrelated edges (a false completion) a 2^-53 event.
		e.rng += 0x9e3779b97f4a7c15
		z := e.rng
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		if id := z >> 11; id != 0 {
			return id
		}
	}
}

func seed(x uint64) uint64 {
	return uint64(time.Now().UnixNano())*0x9e3779b97f4a7c15 ^ x<<32 ^ x
}

// idleFlushAndFail is idleFlush for a task about to wait: the trees of
// tuples the flush could not send are failed now, and those operations
// sent, rather than when the task next wakes (a spout at its pending limit,
// or a bolt with no input, may not wake before the message timeout).
func (e *executor) idleFlushAndFail() (deadline int64, err error) {
	dl, err := e.idleFlush()
	if err != nil || len(e.failRoots) == 0 {
		return dl, err
	}
	e.flushFailures()
	return e.idleFlush()
}

// idleFlush is called when the task runs out of work. It sends its partial
// batches at once, which keeps latency low, but only while it has idle-flush
// credit: a token bucket refilled at one token per IdleFlushGap, holding at
// most idleBurst tokens. A task fed by a trickle would otherwise send one
// tiny batch (and wake a consumer) per tuple and burn the machine while
// nearly idle; the bucket caps that at 1/IdleFlushGap flushes a second,
// while the burst capacity lets the residue of a burst go out at once
// (waiting for a timer instead costs ~1ms: Go's timers are that coarse when
// the process is idle). Without credit, batches that are worth a wake-up
// (idleMin items) still go, and the rest wait for credit or the linger
// bound. Batches to tasks on other nodes follow their frame gap instead
// (Settings.RemoteFrameGap, router.Outbox.SetFrameGap): a network frame
// costs far more than a wake-up. It returns when the task should wake to
// flush again (0: nothing pending).
func (e *executor) idleFlush() (deadline int64, err error) {
	if !e.out.Pending() {
		return 0, nil
	}
	least := 1 // batches this full go now
	if e.idleGap > 0 {
		e.idleCredit += float64(e.now-e.creditAt) / float64(e.idleGap)
		e.creditAt = e.now
		if e.idleCredit > idleBurst {
			e.idleCredit = idleBurst
		}
		if e.idleCredit >= 1 {
			e.idleCredit--
		} else {
			least = e.idleMin
		}
	}
	if err := e.out.FlushIdle(least, e.now); err != nil {
		return 0, err
	}
	if err := e.out.Flush(e.now); err != nil || !e.out.Pending() {
		return 0, err
	}
	dl := e.out.NextDeadline()
	if least > 1 && e.out.PendingWithoutGap() {
		// Wake when the credit allows the rest; batches with a frame
		// gap do not need it.
		dl = min(dl, e.now+int64((1-e.idleCredit)*float64(e.idleGap)))
	}
	return dl, nil
}

// idleBurst is the idle-flush credit a task can save up.
const idleBurst = 16

// ---- end of input ----

// sendEndOfInput flushes everything and tells every downstream task that
// this task will send nothing more.
func (e *executor) sendEndOfInput() error {
	if err := e.out.FlushAll(); err != nil {
		return err
	}
	for _, d := range e.comp.downTasks {
		b := router.NewBatch()
		b.Born = router.Nanotime()
		b.EndOfInput = e.t.id
		if err := e.deliver(d, b); err != nil {
			return err
		}
	}
	return nil
}

// ---- bolts ----

func (e *executor) runBolt(ctx context.Context) error {
	e.bolt = e.comp.newBolt()
	collector := sdk.NewBoltCollector(e)
	if err := e.safely("prepare", func() error { return e.bolt.Prepare(ctx, e.tc, collector) }); err != nil {
		return e.taskErr("prepare", err)
	}
	defer func() {
		if err := e.safely("cleanup", e.bolt.Cleanup); err != nil {
			e.ReportError(fmt.Errorf("cleanup: %w", err))
		}
	}()
	var tickC <-chan time.Time
	freq, err := configDuration(e.comp.cfg, KeyTickFreq, 0)
	if err != nil {
		return e.taskErr("prepare", err)
	}
	if freq > 0 {
		tk := time.NewTicker(freq)
		defer tk.Stop()
		tickC = tk.C
	}
	sleep := e.rt.newSleeper()
	defer sleep.stop()
	in := e.t.inbox.C()
	eofLeft := len(e.comp.upstream)
	batches := 0
	for eofLeft > 0 {
		var b *router.Batch
		var ok bool
		select {
		case b, ok = <-in:
			if !ok {
				return nil // queue closed: stopping
			}
		default:
			// Input ran dry: publish, send partial batches (idleFlush), then
			// sleep until input, a tick, or the next flush deadline.
			e.t.headBorn.Store(0)
			e.stats.publish(&e.t.counters)
			e.now = router.Nanotime()
			e.publishProcess(e.now)
			dl, err := e.idleFlushAndFail()
			if err != nil {
				return nil // stopping
			}
			var timerC <-chan time.Time
			if dl != 0 {
				timerC = sleep.set(e.now, dl)
			}
			select {
			case b, ok = <-in:
				if !ok {
					return nil
				}
			case <-timerC:
			case <-tickC:
				if !e.passFence(ctx) {
					return nil
				}
				e.tick()
			case <-ctx.Done():
				return nil
			}
			if timerC != nil {
				sleep.stop() // leaves no stale wake-up
			}
			if b == nil {
				continue
			}
		}
		e.t.took(b)
		e.now = router.Nanotime()
		e.t.headBorn.Store(b.Born)
		if b.EndOfInput != 0 {
			if e.firstMarker(b.EndOfInput) {
				eofLeft--
			}
			b.Release()
			continue
		}
		if !e.passFence(ctx) {
			b.Release()
			return nil
		}
		if !e.executeBatch(ctx, b) {
			b.Release()
			return nil // the task stopped while its fence held
		}
		b.Release()
		e.flushFailures()
		if e.t.lastProgress.Load() < e.now { // executeBatch may have noted a later time
			e.t.lastProgress.Store(e.now)
		}
		if batches++; batches&15 == 0 {
			// A task that never runs dry still publishes its counters,
			// and stops when asked (its task moved to another node).
			e.stats.publish(&e.t.counters)
			if ctx.Err() != nil {
				return nil
			}
		}
		if err := e.out.Flush(router.Nanotime()); err != nil {
			return nil
		}
		if tickC != nil {
			select {
			case <-tickC:
				// The fence may have engaged during the batch.
				if !e.passFence(ctx) {
					return nil
				}
				e.tick()
			default:
			}
		}
	}
	// Every upstream task has ended and everything it sent was executed.
	if f, ok := e.bolt.(sdk.Finisher); ok {
		if !e.passFence(ctx) {
			return nil // the task moved away meanwhile: its new copy finishes
		}
		e.now = router.Nanotime()
		if err := e.safely("finish", f.Finish); err != nil {
			return e.taskErr("finish", err)
		}
	}
	if err := e.sendEndOfInput(); err != nil {
		return nil
	}
	e.t.headBorn.Store(0)
	e.t.done.Store(true)
	return nil
}

func (e *executor) tick() {
	e.now = router.Nanotime()
	t := sdk.Tuple{Source: sdk.TickSource}
	_ = e.safely("execute tick", func() error {
		e.bolt.Execute(&t)
		return nil
	})
}

// executeBatch runs Execute over a batch. A panic fails the tuple that
// caused it and execution resumes with the next one; recovering per batch
// rather than per tuple keeps the hot loop free of deferred calls. The
// first tuple's Execute is timed for the process latency: one sample per
// batch (Storm samples 5% of tuples) costs two clock reads a batch, not
// two a tuple.
//
// The node's fence may engage while a batch runs (a batch to a slow bolt
// can take seconds): executeFrom stops before the next tuple, and the
// batch goes on once the fence lifts, or is given up (false) if the task
// stopped meanwhile (it moved away; its trees replay).
func (e *executor) executeBatch(ctx context.Context, b *router.Batch) bool {
	if len(b.Tuples) == 0 {
		return true
	}
	start := router.Nanotime()
	i := e.executeFrom(b, 0, 1)
	end := router.Nanotime()
	if i > 0 {
		e.proc.Record(end - start)
	}
	for i < len(b.Tuples) {
		if e.rt.fence.held() && !e.passFence(ctx) {
			return false
		}
		// Progress every progressEvery tuples, not only at the end of the
		// batch: a batch of slow tuples can outlast the time after which
		// a task that made none counts as stuck, and a stuck task's queue
		// no longer holds the timeouts of the trees waiting in it back.
		i = e.executeFrom(b, i, min(i+progressEvery, len(b.Tuples)))
		e.t.lastProgress.Store(router.Nanotime())
	}
	e.publishProcess(end)
	return true
}

// progressEvery is how many tuples of a batch a bolt executes between two
// notes of its progress (Runtime.localBacklog's stuck rule).
const progressEvery = 64

// publishProcess merges the bolt's sampled Execute times into the task's
// process histogram, at most once a millisecond (see publishLatency).
func (e *executor) publishProcess(now int64) {
	if e.proc.n == 0 || now-e.procPublished < int64(time.Millisecond) {
		return
	}
	e.procPublished = now
	e.t.process.merge(&e.proc)
}

// executeFrom executes tuples i to end-1, or up to one that panics, or
// up to the first it finds its node's fence held before.
func (e *executor) executeFrom(b *router.Batch, i, end int) (next int) {
	defer func() {
		if r := recover(); r != nil {
			t := &b.Tuples[next]
			site := sdk.PanicSite()
			if e.panics++; e.panics == 1 {
				// The stack of the task's first panic: the task error
				// names the line, this says how it got there.
				e.tc.Log.Error("panic in Execute (the task's first; later ones are task errors only)", "panic", r, "stack", string(debug.Stack()))
			}
			e.ReportError(fmt.Errorf("panic in Execute (tuple from %s/%s, failed): %v%s", t.Component(), t.Stream(), r, at(site)))
			e.Fail(t)
			next++
		}
	}()
	fence := e.rt.fence
	for next = i; next < end; next++ {
		if fence != nil && fence.engaged.Load() {
			return next
		}
		e.stats.executed++
		e.bolt.Execute(&b.Tuples[next])
	}
	return next
}

// ---- spouts ----

func (e *executor) runSpout(ctx context.Context) error {
	e.spout = e.comp.newSpout()
	e.pending = newPendingTable(e.maxPending)
	collector := sdk.NewSpoutCollector(e)
	if err := e.safely("open", func() error { return e.spout.Open(ctx, e.tc, collector) }); err != nil {
		return e.taskErr("open", err)
	}
	defer func() {
		if err := e.safely("close", e.spout.Close); err != nil {
			e.ReportError(fmt.Errorf("close: %w", err))
		}
	}()
	sleep := e.rt.newSleeper()
	defer sleep.stop()
	e.wasActive = true
	iter := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		e.now = router.Nanotime()
		if !e.passFence(ctx) {
			return nil
		}
		e.drainCtrl()
		if e.rt.remote != nil && e.now-e.lastSweep > int64(e.rt.settings.MessageTimeout) {
			// Before NextTuple, which may replay what this fails: the
			// end-of-input check below must see those replays.
			e.sweepLostResults()
		}
		e.releaseFails()
		active := e.rt.active.Load()
		if active != e.wasActive {
			e.wasActive = active
			if a, ok := e.spout.(sdk.Activator); ok {
				if active {
					a.Activate()
				} else {
					a.Deactivate()
				}
			}
		}
		canEmit := active && (e.nAck == 0 || e.maxPending == 0 || e.pending.len() < e.maxPending)
		before := e.emits
		if canEmit {
			if err := e.safely("next tuple", func() error { e.spout.NextTuple(); return nil }); err != nil {
				e.ReportError(err)
			}
			e.ackImmediate()
		}
		emitted := e.emits != before
		e.flushFailures()
		if canEmit && !emitted && e.ended && e.pending.len() == 0 && len(e.deferred) == 0 {
			// End of input, nothing in flight or to replay, and no replay
			// was emitted.
			if err := e.sendEndOfInput(); err != nil {
				return nil
			}
			e.t.done.Store(true)
			return nil
		}
		e.now = router.Nanotime()
		if err := e.out.Flush(e.now); err != nil {
			return nil
		}
		if iter++; iter&63 == 0 {
			e.stats.publish(&e.t.counters)
			e.t.latency.merge(&e.hist)
		}
		if canEmit && emitted {
			continue
		}
		// Idle: wait for acker results, the spout wait, or a linger
		// deadline.
		e.stats.publish(&e.t.counters)
		e.publishLatency()
		wait := time.Duration(-1)
		if canEmit {
			wait = e.rt.settings.SpoutWait
		} else if !active {
			wait = 10 * time.Millisecond // poll for activation
		}
		dl, err := e.idleFlushAndFail()
		if err != nil {
			return nil
		}
		for _, dl := range [...]int64{dl, e.nextFailDue(), e.nextSweepDue()} {
			if dl != 0 {
				if d := time.Duration(dl - e.now); wait < 0 || d < wait {
					wait = max(d, 0)
				}
			}
		}
		var timerC <-chan time.Time
		if wait >= 0 {
			timerC = sleep.set(e.now, e.now+int64(wait))
		}
		select {
		case <-e.t.ctrl.notify:
		case <-timerC:
		case <-ctx.Done():
			return nil
		}
		if timerC != nil {
			sleep.stop()
		}
	}
}

// nextSweepDue is when sweepLostResults should next run, 0 if it need not:
// a spout at its pending limit whose results were all lost (their acker
// died with its node) gets no result that would wake it, and slept
// through its sweeps with its messages pending for ever (seen in the
// failover acceptance test: a spout task stopped at a sixth of its ids).
func (e *executor) nextSweepDue() int64 {
	if e.rt.remote == nil || e.pending.len() == 0 {
		return 0
	}
	return e.lastSweep + int64(e.rt.settings.MessageTimeout) + 1
}

// sweepLostResults fails trees pending for much longer than the message
// timeout. In a distributed run an acker's result can be lost with the
// connection that carried it; the acker has already forgotten the tree, so
// without this the message would stay pending forever. Storm's spout
// executors keep such a timeout of their own too.
func (e *executor) sweepLostResults() {
	e.lastSweep = e.now
	// Work waiting in queues, here or on nodes that reported it, may
	// still be these trees' tuples: the ackers hold their timeouts back
	// by it, and so does this sweep.
	limit := e.now - 3*int64(e.rt.settings.MessageTimeout) - e.rt.maxBacklog(e.now)
	var lost []uint64
	e.pending.each(func(root uint64, p pendingMsg) {
		if p.start < limit {
			if t, ok := e.alive[root]; ok && t >= limit {
				return // a bolt keeps it alive (AckAlive)
			}
			lost = append(lost, root)
		}
	})
	e.failPending(lost)
}

// failPending fails the pending trees of roots at the spout (their acker
// cannot say how they ended) and returns how many were pending.
func (e *executor) failPending(roots []uint64) int {
	n := 0
	for _, root := range roots {
		if p, ok := e.pending.take(root); ok {
			delete(e.alive, root)
			e.stats.failed++
			e.failMessage(p.msgID)
			n++
		}
	}
	return n
}

// drainCtrl hands completed and failed trees to the spout.
func (e *executor) drainCtrl() {
	ops := e.t.ctrl.take(e.ctrlSpare)
	for _, op := range ops {
		if op.Kind == router.AckAlive {
			if e.pending.has(op.Root) {
				if e.alive == nil {
					e.alive = map[uint64]int64{}
				}
				e.alive[op.Root] = e.now
			}
			continue
		}
		p, ok := e.pending.take(op.Root)
		if !ok {
			continue
		}
		if len(e.alive) > 0 {
			delete(e.alive, op.Root)
		}
		if op.Kind == router.AckCompleted {
			e.stats.acked++
			e.hist.Record(int64(op.Value) - p.start)
			if len(e.refails) > 0 {
				delete(e.refails, p.msgID)
			}
			e.callAck(p.msgID)
		} else {
			e.stats.failed++
			e.failMessage(p.msgID)
		}
	}
	e.ctrlSpare = ops[:0]
	// After the results queued: a tree its acker completed (or failed)
	// before it was lost got that result, not a failure that replays it.
	e.failTreesOfLostAckers()
}

// ackImmediate calls the spout's Ack for the reliable emits of acking-off
// mode. An Ack may emit again, which appends to e.immediate while this
// runs over the ids taken: the two slices swap, so neither is reallocated
// (a fresh slice per NextTuple grew from nothing every time, 11% of a
// pass-through spout's CPU). One recover frame (safely) covers a run of
// Acks; a panic is reported and the run resumes after the Ack that
// panicked.
func (e *executor) ackImmediate() {
	for len(e.immediate) > 0 {
		ids := e.immediate
		e.immediate = e.immediateSpare[:0]
		for i := 0; i < len(ids); {
			err := e.safely("ack", func() error {
				for ; i < len(ids); i++ {
					e.stats.acked++
					e.spout.Ack(ids[i])
				}
				return nil
			})
			if err != nil {
				e.ReportError(err)
				i++ // past the Ack that panicked
			}
		}
		e.immediateSpare = ids[:0]
	}
}

func (e *executor) callAck(id uint64) {
	if err := e.safely("ack", func() error { e.spout.Ack(id); return nil }); err != nil {
		e.ReportError(err)
	}
}

func (e *executor) callFail(id uint64) {
	if err := e.safely("fail", func() error { e.spout.Fail(id); return nil }); err != nil {
		e.ReportError(err)
	}
}

var (
	_ sdk.Emitter         = (*executor)(nil)
	_ sdk.TimeoutResetter = (*executor)(nil)
)
var _ = galev1.ComponentKind_COMPONENT_KIND_SPOUT
