package security_test

import (
	"fmt"

	"google.golang.org/grpc"

	"github.com/gale-stream/gale/sdk/security"
)

// A client of a node. security.FilesFromEnv() gives the files of the
// GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY variables; with none named,
// as here, the connection is plaintext.
func Example() {
	files := security.TLSFiles{} // or security.FilesFromEnv()
	sec, err := security.Load(files, "GALE_TLS")
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
	fmt.Println("security:", sec.Credentials().Info().SecurityProtocol)
	// Output: security: insecure
}

// Errors name the setting, in the caller's words, and what is wrong.
func ExampleLoad() {
	_, err := security.Load(security.TLSFiles{Cert: "me.pem", Key: "me-key.pem"}, "--tls")
	fmt.Println(err)
	// Output: --tls-ca is not set: TLS needs the CA that signed the peers' certificates (--tls-cert and --tls-key are set)
}
