package router_test

import (
	"context"
	"fmt"

	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// A word-count split bolt routes each word to a count task with fields
// grouping on the "word" field: equal words always meet at the same task.
func Example() {
	t, err := router.ParseGrouping("fields")
	if err != nil {
		panic(err)
	}
	g, err := router.New(t, router.Config{
		NumTasks: 4,        // parallelism of the count bolt
		FieldIdx: []int{0}, // the stream is ("word", "n"); group by "word"
		Seed:     1,        // the emitting task
	})
	if err != nil {
		panic(err)
	}

	inbox := router.NewQueue[string](16)
	dst := make([]int, 0, 4) // reused: Choose does not allocate
	for _, w := range []string{"the", "cat", "the", "hat"} {
		dst = g.Choose(dst[:0], []sdk.Value{sdk.String(w), sdk.Int(1)}, -1)
		if err := inbox.Push(context.Background(), fmt.Sprintf("%s -> task %d", w, dst[0])); err != nil {
			panic(err)
		}
	}
	inbox.Close()
	for line := range inbox.C() {
		fmt.Println(line)
	}
	// Output:
	// the -> task 3
	// cat -> task 0
	// the -> task 3
	// hat -> task 0
}

func ExampleFieldsHash() {
	key := router.FieldsHash([]sdk.Value{sdk.String("a")}, []int{0})
	fmt.Printf("%s: %016x, task %d of 1000\n", router.FieldsHashVersion, key, router.JumpHash(key, 1000))
	// Output: gale-fields-v1: 1509254504bbac28, task 435 of 1000
}

func ExampleQueue_TryPush() {
	q := router.NewQueue[int](1)
	fmt.Println(q.TryPush(1))
	fmt.Println(q.TryPush(2)) // full: the caller sees the backpressure
	// Output:
	// <nil>
	// router: queue full
}
