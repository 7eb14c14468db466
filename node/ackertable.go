package node

// ackerTable is the XOR acker's state: per in-flight tuple tree, its root id
// (8 bytes), the xor of the edge ids seen so far (8 bytes), and 4 bytes of
// meta: the spout task that owns the tree (15 bits), a failed flag, and the
// coarse time of the tree's last progress (16 bits, in sweep ticks). That is
// Storm's ~20 bytes per tree, kept in three parallel arrays so that no
// padding is added.
type ackerTable struct {
	keys  []uint64
	xors  []uint64
	metas []uint32
	shift uint
	n     int
}

const (
	metaTaskMask   = 0x7fff
	metaFailedBit  = 0x8000
	metaEpochShift = 16
	// MaxTaskID is the largest task id the acker can track: task ids live
	// in 15 bits of an acker entry.
	MaxTaskID = metaTaskMask
)

func newAckerTable(capacity int) *ackerTable {
	t := &ackerTable{}
	t.alloc(capacity)
	return t
}

func (t *ackerTable) alloc(capacity int) {
	size := 16
	for size < capacity*2 {
		size <<= 1
	}
	t.keys = make([]uint64, size)
	t.xors = make([]uint64, size)
	t.metas = make([]uint32, size)
	t.shift = uint(64 - log2(size))
	t.n = 0
}

// slot is the home slot of root k. A root with a ring slot (rootLayout)
// hashes by its task and its ring slot divided by four, and the ring
// slot's low two bits pick the place in an aligned group of four table
// slots: the trees a spout has in flight are consecutive ring slots, so
// four of them share half a cache line of keys here instead of each
// costing a cache miss (the first load of a random key was most of the
// acker's time: 12-14% of the CPU of pass-through with acking in one
// process, 6-8% with the groups). Groups of eight halved the misses as
// well but cost more in probing and in deleteAt's scan over a full
// group. The task is multiplied and xored in rather than added, so that
// the evenly spread homes of two tasks' groups are not shifted copies of
// each other. Other roots hash by all their bits. The table has at least
// 16 slots, so shift+2 < 64.
func (t *ackerTable) slot(k uint64) int {
	if rs := rootSlot(k); rs != 0 {
		g := rs>>2 ^ (k>>rootTaskShift)*0xbf58476d1ce4e5b9
		return int((g*fib64)>>(t.shift+2))<<2 | int(rs&3)
	}
	return int((k * fib64) >> t.shift)
}

// find returns the slot of k, creating an empty entry if absent.
func (t *ackerTable) find(k uint64) int {
	if (t.n+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			t.keys[i] = k
			t.xors[i] = 0
			t.metas[i] = 0
			t.n++
			return i
		case k:
			return i
		}
	}
}

// lookup returns the slot of k or -1.
func (t *ackerTable) lookup(k uint64) int {
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

func (t *ackerTable) deleteAt(i int) {
	mask := len(t.keys) - 1
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		home := t.slot(t.keys[j])
		if (j-home)&mask >= (j-i)&mask {
			t.keys[i], t.xors[i], t.metas[i] = t.keys[j], t.xors[j], t.metas[j]
			i = j
		}
	}
	t.keys[i] = 0
	t.n--
}

func (t *ackerTable) grow() {
	keys, xors, metas := t.keys, t.xors, t.metas
	t.alloc(len(keys))
	mask := len(t.keys) - 1
	for i, k := range keys {
		if k == 0 {
			continue
		}
		j := t.slot(k)
		for t.keys[j] != 0 {
			j = (j + 1) & mask
		}
		t.keys[j], t.xors[j], t.metas[j] = k, xors[i], metas[i]
		t.n++
	}
}

func (t *ackerTable) len() int { return t.n }

func metaTask(m uint32) int32   { return int32(m & metaTaskMask) }
func metaEpoch(m uint32) uint16 { return uint16(m >> metaEpochShift) }
func withEpoch(m uint32, e uint16) uint32 {
	return m&0xffff | uint32(e)<<metaEpochShift
}
