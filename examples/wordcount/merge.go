package wordcount

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gale-stream/gale/examples/internal/mergefile"
)

// Errors of the merge, wrapped with the path they concern; test with
// errors.Is.
var (
	// ErrCorruptOutput means the output file of the current run cannot be
	// merged: a line is not word<TAB>count or lines are out of order.
	ErrCorruptOutput = errors.New("corrupt output file")
	// ErrCorruptSidecar means the merge state of the current run is
	// unreadable or says that every task merged already.
	ErrCorruptSidecar = mergefile.ErrCorruptSidecar
	// errNotSorted details an ErrCorruptOutput whose lines are out of
	// order, which a streaming merge cannot repair.
	errNotSorted = errors.New("lines not sorted by word")
)

// lockFile takes the merge's exclusive lock (tests hold it).
var lockFile = mergefile.Lock

// mergeJob is one count task's contribution to the shared output file.
type mergeJob struct {
	path       string
	topologyID string
	tasks      int      // count tasks that write path
	words      []string // this task's words, sorted
	counts     []int64  // counts[i] is the total of words[i]
}

// mergeOutput merges job's totals into the output file under an exclusive
// lock, following the protocol in the package documentation.
func mergeOutput(ctx context.Context, job mergeJob) error {
	return mergefile.Merge(ctx, mergefile.Job{
		Path:       job.path,
		TopologyID: job.topologyID,
		Tasks:      job.tasks,
		Write: func(prev io.Reader, w *bufio.Writer) error {
			return writeMerged(job.path, prev, job.words, job.counts, w)
		},
	})
}

// writeMerged writes to w the merge of prev (the sorted word<TAB>count
// lines of the output at path, or nil) and this task's sorted words.
func writeMerged(path string, prev io.Reader, words []string, counts []int64, w *bufio.Writer) error {
	out := lineWriter{w: w}
	var in *entryReader
	if prev != nil {
		in = &entryReader{r: bufio.NewReaderSize(prev, 64<<10), name: path}
	}
	e, ok, err := in.next()
	if err != nil {
		return err
	}
	i := 0
	for ok || i < len(words) {
		if ok && (i == len(words) || e.word <= words[i]) {
			if err := out.add(e.word, e.count); err != nil {
				return err
			}
			if e, ok, err = in.next(); err != nil {
				return err
			}
		} else {
			if err := out.add(words[i], counts[i]); err != nil {
				return err
			}
			i++
		}
	}
	return out.flush()
}

// entry is one line of the output file.
type entry struct {
	word  string
	count int64
}

// entryReader streams the entries of a sorted output file.
type entryReader struct {
	r    *bufio.Reader
	name string
	line int
	prev string
}

// next returns the next entry, or ok == false at the end. A nil reader is
// an empty file.
func (er *entryReader) next() (e entry, ok bool, err error) {
	if er == nil {
		return entry{}, false, nil
	}
	text, err := er.r.ReadString('\n')
	if err != nil && (err != io.EOF || text == "") {
		if err == io.EOF {
			return entry{}, false, nil
		}
		return entry{}, false, fmt.Errorf("read %s: %w", er.name, err)
	}
	er.line++
	text = strings.TrimSuffix(text, "\n")
	tab := strings.LastIndexByte(text, '\t')
	if tab <= 0 {
		return entry{}, false, fmt.Errorf("read %s line %d: %q is not word<TAB>count: %w", er.name, er.line, text, ErrCorruptOutput)
	}
	e.word = text[:tab]
	if e.count, err = strconv.ParseInt(text[tab+1:], 10, 64); err != nil {
		return entry{}, false, fmt.Errorf("read %s line %d: bad count %q: %w", er.name, er.line, text[tab+1:], ErrCorruptOutput)
	}
	if er.line > 1 && e.word < er.prev {
		return entry{}, false, fmt.Errorf("read %s line %d: %q after %q: %w: %w", er.name, er.line, e.word, er.prev, errNotSorted, ErrCorruptOutput)
	}
	er.prev = e.word
	return e, true, nil
}

// lineWriter writes sorted word<TAB>count lines, summing the counts of
// equal consecutive words: the key sets of count tasks are disjoint by
// design, but a word that shows up twice is still counted once, in full.
type lineWriter struct {
	w       *bufio.Writer
	word    string
	count   int64
	have    bool
	scratch []byte
}

func (lw *lineWriter) add(word string, count int64) error {
	if lw.have && word == lw.word {
		lw.count += count
		return nil
	}
	if err := lw.flush(); err != nil {
		return err
	}
	lw.word, lw.count, lw.have = word, count, true
	return nil
}

func (lw *lineWriter) flush() error {
	if !lw.have {
		return nil
	}
	lw.have = false
	lw.scratch = append(lw.scratch[:0], lw.word...)
	lw.scratch = append(lw.scratch, '\t')
	lw.scratch = strconv.AppendInt(lw.scratch, lw.count, 10)
	lw.scratch = append(lw.scratch, '\n')
	_, err := lw.w.Write(lw.scratch)
	return err
}
