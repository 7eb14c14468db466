package failover_test

import (
	"os"
	"testing/fstest"

	"github.com/gale-stream/gale/examples/failover"
)

// CheckFS reads the sink files and lists what is missing, what repeats and
// what is not an id.
func ExampleCheckFS() {
	files := fstest.MapFS{
		"10.txt": {Data: []byte("0\n3\n1\n")},
		"11.txt": {Data: []byte("3\noops\n5\n")},
	}
	r, err := failover.CheckFS(files, 6)
	if err != nil {
		panic(err)
	}
	r.Report(os.Stdout)
	// Output:
	// read 2 files, 5 id lines
	// ids 0..N-1, N=6: 4 present, 2 missing, 1 duplicate lines
	// missing ids (first 2): 2, 4
	// 1 bad lines:
	//   11.txt:2: not an id (a decimal integer without sign or leading zeros): "oops"
	// FAIL
}
