package node

// Open-addressing hash tables keyed by tuple-tree root ids. Root ids are
// random and never zero, so zero marks an empty slot and the key's own bits
// (scrambled once by a multiply) pick the slot. Linear probing with
// backward-shift deletion keeps lookups short without tombstones, which
// matters for tables with one insert and one delete per tuple tree: the
// prototype spent ~40% of its CPU in a Go map doing exactly that.

const fib64 = 0x9e3779b97f4a7c15

// pendingTable maps a spout task's root ids to its pending messages.
type pendingTable struct {
	keys  []uint64
	vals  []pendingMsg
	shift uint
	n     int
}

type pendingMsg struct {
	msgID uint64
	start int64 // Nanotime at emit
}

func newPendingTable(capacity int) *pendingTable {
	t := &pendingTable{}
	t.alloc(capacity)
	return t
}

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

func (t *pendingTable) slot(k uint64) int { return int((k * fib64) >> t.shift) }

// put inserts or replaces k.
func (t *pendingTable) put(k uint64, v pendingMsg) {
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

// take removes k and returns its value.
func (t *pendingTable) take(k uint64) (pendingMsg, bool) {
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			return pendingMsg{}, false
		case k:
			v := t.vals[i]
			t.deleteAt(i)
			return v, true
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
			t.put(k, vals[i])
		}
	}
}

// len returns the number of entries.
func (t *pendingTable) len() int { return t.n }

// each calls f for every entry (order unspecified); f must not modify t.
func (t *pendingTable) each(f func(k uint64, v pendingMsg)) {
	for i, k := range t.keys {
		if k != 0 {
			f(k, t.vals[i])
		}
	}
}
