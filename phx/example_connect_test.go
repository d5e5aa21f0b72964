package phx_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phxgo/phxgo/phx"
)

// ExampleConnectError refuses connects from Connect: a missing token with
// CloseUnauthorized, a client that comes too often with
// CloseTooManyRequests and a RetryAfter, which shortens the reconnect
// brake for it and, mirrored in the payload, tells the client when to come
// back. In the default reject mode the client gets its upgrade, one
// phx_connect_error message carrying Payload, then a close frame with Code
// and Reason.
func ExampleConnectError() {
	attempts := map[string]int{}
	connect := func(_ context.Context, c *phx.ConnectInfo) (phx.Assigns, error) {
		token := c.Params.Get("token")
		if token == "" {
			return phx.Assigns{}, &phx.ConnectError{Code: phx.CloseUnauthorized, Reason: "unauthorized",
				Payload: phx.Reason("unauthorized")}
		}
		if attempts[token]++; attempts[token] > 1 {
			retry := 5 * time.Second
			return phx.Assigns{}, &phx.ConnectError{Code: phx.CloseTooManyRequests, Reason: "slow_down",
				RetryAfter: retry,
				Payload:    map[string]any{"reason": "slow_down", "retry_after_ms": retry.Milliseconds()},
				Err:        fmt.Errorf("attempt %d of token %q", attempts[token], token)}
		}
		return phx.NewAssigns("token", token), nil
	}
	srv := phx.NewServer(phx.Config{Connect: connect})
	defer srv.Close()

	for _, token := range []string{"", "t1", "t1"} {
		_, err := connect(context.Background(), &phx.ConnectInfo{Params: phx.NewParams("token", token)})
		var ce *phx.ConnectError
		if errors.As(err, &ce) {
			fmt.Printf("refused: close %v %q, retry after %v (valid: %v)\n", ce.Code, ce.Reason, ce.RetryAfter, ce.Validate() == nil)
			continue
		}
		fmt.Println("accepted")
	}
	// Output:
	// refused: close 4401 unauthorized "unauthorized", retry after 0s (valid: true)
	// accepted
	// refused: close 4429 too many requests "slow_down", retry after 5s (valid: true)
}
