package failover

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MaxListed bounds how many missing ids, bad lines and notes a CheckResult
// lists; the counts are always complete.
const MaxListed = 20

// CheckResult is what CheckFS found in a directory of sink files.
type CheckResult struct {
	// Count is N: the ids 0..N-1 are expected.
	Count int64
	// Files are the *.txt files read, in name order.
	Files []string
	// Lines counts the lines holding an id in range, duplicates included.
	Lines int64
	// Distinct counts the different ids present.
	Distinct int64
	// Duplicates is Lines - Distinct: lines repeating an id already seen
	// (replays, restarted spout tasks).
	Duplicates int64
	// Missing counts the ids of 0..N-1 found in no file; FirstMissing lists
	// the smallest of them, at most MaxListed.
	Missing      int64
	FirstMissing []int64
	// BadLines counts the lines that are not an id in range (not a
	// canonical decimal integer, or >= N); Errors describes the first
	// MaxListed of them as "file:line: what is wrong".
	BadLines int64
	Errors   []string
	// Incomplete notes, as "file:line: ...", each file whose last line has
	// no "\n": a write in progress while the checker read, or a crash. Such
	// a line is not counted, and is not an error.
	Incomplete []string
}

// OK reports whether every id is present and every line is well-formed.
func (r *CheckResult) OK() bool { return r.Missing == 0 && r.BadLines == 0 }

// Report writes a human-readable summary of r, ending with "OK" or
// "FAIL".
func (r *CheckResult) Report(w io.Writer) {
	fmt.Fprintf(w, "read %d files, %d id lines\n", len(r.Files), r.Lines)
	fmt.Fprintf(w, "ids 0..N-1, N=%d: %d present, %d missing, %d duplicate lines\n",
		r.Count, r.Distinct, r.Missing, r.Duplicates)
	if r.Missing > 0 {
		ids := make([]string, len(r.FirstMissing))
		for i, id := range r.FirstMissing {
			ids[i] = strconv.FormatInt(id, 10)
		}
		more := ""
		if r.Missing > int64(len(ids)) {
			more = ", ..."
		}
		fmt.Fprintf(w, "missing ids (first %d): %s%s\n", len(ids), strings.Join(ids, ", "), more)
	}
	if r.BadLines > 0 {
		fmt.Fprintf(w, "%d bad lines", r.BadLines)
		if r.BadLines > int64(len(r.Errors)) {
			fmt.Fprintf(w, " (the first %d)", len(r.Errors))
		}
		fmt.Fprintln(w, ":")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	for _, n := range r.Incomplete {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.OK() {
		fmt.Fprintln(w, "OK")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

// CheckDir checks the sink files in dir (see CheckFS); file names in the
// result include dir.
func CheckDir(dir string, count int64) (*CheckResult, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("sink directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("sink directory %q is not a directory", dir)
	}
	return check(os.DirFS(dir), count, func(name string) string { return filepath.Join(dir, name) })
}

// CheckFS reads every regular *.txt file at the root of fsys, one decimal
// id a line, and reports which ids of 0..count-1 are missing, how many lines
// repeat an id, and each line that is not an id in range, by file:line. An
// error means the files could not be read; what they hold is in the result.
func CheckFS(fsys fs.FS, count int64) (*CheckResult, error) {
	return check(fsys, count, func(name string) string { return name })
}

func check(fsys fs.FS, count int64, display func(string) string) (*CheckResult, error) {
	if count < 0 {
		return nil, fmt.Errorf("count must be at least 0, got %d", count)
	}
	names, err := fs.Glob(fsys, "*.txt")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	r := &CheckResult{Count: count}
	seen := make([]uint64, (uint64(count)+63)/64)
	br := bufio.NewReaderSize(nil, 64<<10)
	for _, name := range names {
		fi, err := fs.Stat(fsys, name)
		if err != nil {
			return r, fmt.Errorf("%s: %w", display(name), err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		f, err := fsys.Open(name)
		if err != nil {
			return r, fmt.Errorf("%s: %w", display(name), err)
		}
		r.Files = append(r.Files, display(name))
		br.Reset(f)
		err = r.checkFile(br, display(name), seen)
		f.Close()
		if err != nil {
			return r, fmt.Errorf("%s: %w", display(name), err)
		}
	}
	for i, w := range seen {
		r.Distinct += int64(bits.OnesCount64(w))
		if w == ^uint64(0) {
			continue
		}
		for b := range 64 {
			id := int64(i)*64 + int64(b)
			if id >= count {
				break
			}
			if w&(1<<b) == 0 {
				r.Missing++
				if len(r.FirstMissing) < MaxListed {
					r.FirstMissing = append(r.FirstMissing, id)
				}
			}
		}
	}
	r.Duplicates = r.Lines - r.Distinct
	return r, nil
}

// checkFile reads one file's lines into r and the seen bit set.
func (r *CheckResult) checkFile(br *bufio.Reader, name string, seen []uint64) error {
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			// Far longer than any id: report it and skip the rest.
			r.bad(fmt.Sprintf("%s:%d: line longer than %d bytes, starting %s", name, lineNo, len(line), quoteShort(line)))
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		case err == io.EOF:
			if len(line) > 0 && len(r.Incomplete) < MaxListed {
				r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s:%d: last line %s has no newline (a write in progress, or a crash); not counted",
					name, lineNo, quoteShort(line)))
			}
			return nil
		case err != nil:
			return err
		}
		line = line[:len(line)-1]
		id, ok := parseID(line)
		switch {
		case !ok:
			r.bad(fmt.Sprintf("%s:%d: not an id (a decimal integer without sign or leading zeros): %s", name, lineNo, quoteShort(line)))
		case id >= uint64(r.Count):
			r.bad(fmt.Sprintf("%s:%d: id %d out of range 0..%d", name, lineNo, id, r.Count-1))
		default:
			r.Lines++
			seen[id/64] |= 1 << (id % 64)
		}
	}
}

func (r *CheckResult) bad(msg string) {
	r.BadLines++
	if len(r.Errors) < MaxListed {
		r.Errors = append(r.Errors, msg)
	}
}

// parseID parses a canonical non-negative decimal integer: digits only, no
// sign, no leading zeros (except "0" itself), as FileSink writes them.
func parseID(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// quoteShort quotes a line for a message, cut to 40 bytes.
func quoteShort(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "..."
	}
	return strconv.Quote(string(b))
}
