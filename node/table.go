package node

// Open-addressing hash tables keyed by tuple-tree root ids (the acker's,
// and the spout's for roots outside its ring). Root ids are never zero, so
// zero marks an empty slot. Linear probing with backward-shift deletion
// keeps lookups short without tombstones, which matters for tables with
// one insert and one delete per tuple tree: the prototype spent ~40% of
// its CPU in a Go map doing exactly that.

const fib64 = 0x9e3779b97f4a7c15

// rootLayout: how a spout lays out the root ids it draws (nextRoot), in
// 53 bits (exact as a JavaScript number). Receivers treat roots as opaque
// numbers, except for the acker's choice (the root modulo the number of
// ackers, which the random bits decide) and the tables' hashes here.
//
//	bits 38-52: the spout task's id (15 bits, MaxTaskID)
//	bits 22-37: a slot of the spout's pending ring (16 bits, maxRingSlots)
//	bits  0-21: random
//
// A root with no ring slot (zero slot field) is random in the other 37
// bits. The task and slot make a ring root unique among a topology's
// trees in flight; the random bits spread roots over ackers and make a
// stale acknowledgement for an earlier tree of the same slot match a new
// one only by a 2^-22 chance (that tree would then time out and replay).
// Because a spout takes ring slots in order, its trees in flight are
// consecutive slots of one task: the acker's table keeps four of them in
// half a cache line (ackerTable.slot).
const (
	rootTaskShift  = 38
	rootSlotShift  = 22
	rootSlotMask   = (1<<rootTaskShift - 1) &^ (1<<rootSlotShift - 1)
	rootTaskMask   = (1<<53 - 1) &^ (1<<rootTaskShift - 1)
	rootRandomMask = 1<<rootSlotShift - 1
)

// rootSlot returns the ring slot field of a root.
func rootSlot(k uint64) uint64 { return k & rootSlotMask >> rootSlotShift }

// pendingTable maps a spout task's root ids to its pending messages.
//
// Most roots carry the number of a slot in a ring (reserve; rootLayout):
// the spout draws a root for a free slot, and put and take index the ring
// directly, with no hashing, probing or shifting on delete.
// Slots are handed out in order and trees mostly complete in order, so
// both ends walk the ring and its memory stays in cache (random keys in
// an open-addressing table cost a cache miss at each end: 45 ns per tree,
// about a seventh of the spout node's CPU in the cluster benchmark). A
// root whose slot bits are 0 (no free slot near the cursor, e.g. while a
// spout that emits many tuples per NextTuple call is over its pending
// limit, or no ring at all) lives in the open-addressing part instead.
type pendingTable struct {
	ring   []pendingSlot // nil: every root in the hash part
	ringN  int           // occupied slots
	cursor int           // where reserve looks next

	keys  []uint64
	vals  []pendingMsg
	shift uint
	n     int
}

type pendingMsg struct {
	msgID uint64
	start int64 // Nanotime at emit
}

type pendingSlot struct {
	root uint64 // 0: free
	msg  pendingMsg
}

// maxRingSlots bounds the ring: the slot field of a root has 16 bits
// (rootLayout). A larger pending limit, or none, keeps every root in the
// hash part.
const maxRingSlots = 1 << 16

// reserveScan is how many slots reserve looks at before giving up.
const reserveScan = 8

// newPendingTable returns a table for a spout with the given pending limit
// (0: unbounded): a ring of twice that many slots, so that with at most
// the limit pending the slot at the cursor is nearly always free.
func newPendingTable(maxPending int) *pendingTable {
	t := &pendingTable{}
	if maxPending > 0 && maxPending*2 <= maxRingSlots {
		size := 16
		for size < maxPending*2 {
			size <<= 1
		}
		t.ring = make([]pendingSlot, size)
		t.cursor = 1
		t.alloc(16)
	} else {
		t.alloc(maxPending)
	}
	return t
}

// reserve returns a free slot for the next root, or 0 for none (the root
// then goes to the hash part). The slot stays free until put.
func (t *pendingTable) reserve() uint64 {
	if t.ring == nil {
		return 0
	}
	mask := len(t.ring) - 1
	for range reserveScan {
		s := t.cursor
		t.cursor = (s + 1) & mask
		if s != 0 && t.ring[s].root == 0 {
			return uint64(s)
		}
	}
	return 0
}

// slotOf returns the ring slot a root names, or 0 for the hash part.
func (t *pendingTable) slotOf(k uint64) int {
	s := int(rootSlot(k))
	if s >= len(t.ring) {
		return 0 // not a root of this table's ring
	}
	return s
}

// alloc gives the hash part room for capacity roots and empties it.
func (t *pendingTable) alloc(capacity int) {
	size := 16
	for size < capacity*2 {
		size <<= 1
	}
	t.keys = make([]uint64, size)
	t.vals = make([]pendingMsg, size)
	t.shift = uint(64 - log2(size))
	t.n = 0
}

func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	return l
}

// put inserts or replaces k.
func (t *pendingTable) put(k uint64, v pendingMsg) {
	if s := t.slotOf(k); s != 0 {
		switch t.ring[s].root {
		case 0:
			t.ring[s] = pendingSlot{root: k, msg: v}
			t.ringN++
			return
		case k:
			t.ring[s].msg = v
			return
		}
		// Taken by another root (a caller that did not reserve): keep
		// it in the hash part, where take looks next.
	}
	t.hashPut(k, v)
}

// take removes k and returns its value.
func (t *pendingTable) take(k uint64) (pendingMsg, bool) {
	if s := t.slotOf(k); s != 0 && t.ring[s].root == k {
		v := t.ring[s].msg
		t.ring[s] = pendingSlot{}
		t.ringN--
		return v, true
	}
	if t.n == 0 {
		return pendingMsg{}, false
	}
	return t.hashTake(k)
}

// len returns the number of entries.
func (t *pendingTable) len() int { return t.ringN + t.n }

// has reports whether k is pending.
func (t *pendingTable) has(k uint64) bool {
	if s := t.slotOf(k); s != 0 && t.ring[s].root == k {
		return true
	}
	return t.n > 0 && t.hashFind(k) >= 0
}

// each calls f for every entry (order unspecified); f must not modify t.
func (t *pendingTable) each(f func(k uint64, v pendingMsg)) {
	for _, e := range t.ring {
		if e.root != 0 {
			f(e.root, e.msg)
		}
	}
	for i, k := range t.keys {
		if k != 0 {
			f(k, t.vals[i])
		}
	}
}

// The hash part: open addressing with linear probing.

func (t *pendingTable) slot(k uint64) int { return int((k * fib64) >> t.shift) }

func (t *pendingTable) hashPut(k uint64, v pendingMsg) {
	if (t.n+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			t.keys[i], t.vals[i] = k, v
			t.n++
			return
		case k:
			t.vals[i] = v
			return
		}
	}
}

func (t *pendingTable) hashTake(k uint64) (pendingMsg, bool) {
	i := t.hashFind(k)
	if i < 0 {
		return pendingMsg{}, false
	}
	v := t.vals[i]
	t.deleteAt(i)
	return v, true
}

// hashFind returns the index of k in the hash part, or -1.
func (t *pendingTable) hashFind(k uint64) int {
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			return -1
		case k:
			return i
		}
	}
}

func (t *pendingTable) deleteAt(i int) {
	mask := len(t.keys) - 1
	// Backward-shift: move later members of the probe run into the hole
	// when their home slot does not lie strictly between hole and them.
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		home := t.slot(t.keys[j])
		if (j-home)&mask >= (j-i)&mask {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	t.keys[i] = 0
	t.vals[i] = pendingMsg{}
	t.n--
}

func (t *pendingTable) grow() {
	keys, vals := t.keys, t.vals
	t.alloc(len(keys))
	for i, k := range keys {
		if k != 0 {
			t.hashPut(k, vals[i])
		}
	}
}
