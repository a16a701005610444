package core_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/hoardhttp/hoard/core"
)

// The errors of OpenStore say whether the configuration is wrong (fix it)
// or the store could not be reached (try again, or open it lazily).
func ExampleErrInvalidConfig() {
	_, err := core.OpenStore(context.Background(), "mem://?max_bytes=lots")
	fmt.Println(err)
	fmt.Println(errors.Is(err, core.ErrInvalidConfig), errors.Is(err, core.ErrUnavailable))
	// Output:
	// memstore: DSN "mem://?max_bytes=lots": parameter max_bytes: core: invalid size "lots"
	// true false
}

// A store package marks the errors of its opener, keeping their messages.
func ExampleUnavailable() {
	err := core.Unavailable(errors.New("mystore: dial 127.0.0.1:7000: connection refused"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, core.ErrUnavailable))
	// Output:
	// mystore: dial 127.0.0.1:7000: connection refused
	// true
}

// RedactDSN shows a DSN in an error message without its secrets.
func ExampleRedactDSN() {
	u, _ := url.Parse("dynamodb://cache?access_key_id=AKIA&secret_access_key=s3cret")
	fmt.Println(core.RedactDSN(u, "secret_access_key"))
	u, _ = url.Parse("redis://app:s3cret@cache.internal:6379/0")
	fmt.Println(core.RedactDSN(u))
	// Output:
	// dynamodb://cache?access_key_id=AKIA&secret_access_key=xxxxx
	// redis://app:xxxxx@cache.internal:6379/0
}
