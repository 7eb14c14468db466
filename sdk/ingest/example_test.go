package ingest_test

import (
	"fmt"

	"github.com/gale-stream/gale/sdk/ingest"
)

// Decode validates a request body and returns its events; a bad body
// names the first bad event, as the spout's 400 answer does.
func ExampleDecode() {
	evs, err := ingest.Decode(nil, []byte(`[
		{"visitor":"v1","ts":1700000000000,"type":"click","page":"/","x":640,"y":470,"vw":1280,"vh":800,"target":"#cta"},
		{"visitor":"v1","ts":1700000000400,"type":"scroll","page":"/","depth":0.8}]`))
	fmt.Println(len(evs), err)
	for _, e := range evs {
		vals := e.AppendValues(nil, 1)
		fmt.Println(vals[ingest.IdxType], vals[ingest.IdxTarget], vals[ingest.IdxValue])
	}
	_, err = ingest.Decode(nil, []byte(`[{"visitor":"v1","ts":1,"type":"move","page":"/","x":1,"y":2}]`))
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// click #cta null
	// scroll null 0.8
	// event 0: missing field "vw" (viewport width in px) in a move event
}
