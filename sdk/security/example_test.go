package security_test

import (
	"fmt"

	"google.golang.org/grpc"

	"github.com/gale-stream/gale/sdk/security"
)

// A client of a node with TLS: the files come from GALE_TLS_CA,
// GALE_TLS_CERT and GALE_TLS_KEY, and plaintext when they are not set.
func Example() {
	sec, err := security.Load(security.FilesFromEnv(), "GALE_TLS")
	if err != nil {
		fmt.Println(err) // names the variable and the file
		return
	}
	conn, err := grpc.NewClient("127.0.0.1:7070", grpc.WithTransportCredentials(sec.Credentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	// ... galev1.NewCoordinatorServiceClient(conn)
}
