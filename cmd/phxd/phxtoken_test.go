package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/phx"
)

// phxdTokens are the tokens the real Plug.Crypto made for this test
// (phx/token/testdata/gen/gen_vectors.exs, the phxd_* rows), by name.
func phxdTokens(t *testing.T) (secret string, tokens map[string]string, signedAt time.Time) {
	t.Helper()
	raw, err := os.ReadFile("../../phx/token/testdata/elixir_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			Name, Secret, Token string
			SignedAt            int64 `json:"signed_at"`
		}
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	tokens = map[string]string{}
	for _, v := range f.Vectors {
		if name, ok := strings.CutPrefix(v.Name, "phxd_"); ok {
			tokens[name], secret, signedAt = v.Token, v.Secret, time.Unix(v.SignedAt, 0)
		}
	}
	if len(tokens) < 9 {
		t.Fatalf("%d phxd tokens", len(tokens))
	}
	return secret, tokens, signedAt
}

func setTokenClock(t *testing.T, now time.Time) {
	old := phxTokenNow
	phxTokenNow = func() time.Time { return now }
	t.Cleanup(func() { phxTokenNow = old })
}

func connectWith(tok string) (phx.Assigns, error) {
	return connect(context.Background(), &phx.ConnectInfo{Params: phx.NewParams("token", tok)})
}

func reasonOf(err error) string {
	var ce *phx.ConnectError
	if errors.As(err, &ce) && ce.Code == phx.CloseUnauthorized {
		return ce.Reason
	}
	return "?"
}

func TestPhoenixTokenConnect(t *testing.T) {
	secret, tokens, signedAt := phxdTokens(t)
	t.Setenv(secretKeyBaseEnv, secret)
	setTokenClock(t, signedAt.Add(time.Hour))
	for name, want := range map[string]string{
		"int": "42", "string": "ann", "admin": "admin", "big": "1180591620717411303424",
	} {
		a, err := connectWith(tokens[name])
		if err != nil || a.String("user_id") != want {
			t.Errorf("%s: %v, %v; want user %s", name, a, err, want)
		}
	}
	for _, name := range []string{"bad_id", "long_id", "negative", "map", "atom"} {
		if _, err := connectWith(tokens[name]); reasonOf(err) != "unauthorized" {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	for name, tok := range map[string]string{
		"tampered": tokens["int"][:len(tokens["int"])-3] + "AAA",
		"garbage":  "SFMyNTY.x.y",
		"xcp junk": "XCP.abc",
	} {
		if _, err := connectWith(tok); reasonOf(err) != "unauthorized" {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	// One second past max_age (86400 s): expired.
	setTokenClock(t, signedAt.Add(86401*time.Second))
	for _, name := range []string{"int", "string"} {
		if _, err := connectWith(tokens[name]); reasonOf(err) != "token_expired" {
			t.Errorf("%s after a day: %v, want token_expired", name, err)
		}
	}
	// The test tokens keep working beside Phoenix tokens.
	if a, err := connectWith("user:bob"); err != nil || a.String("user_id") != "bob" {
		t.Errorf("user:bob: %v, %v", a, err)
	}
	// With another secret the same tokens are refused.
	t.Setenv(secretKeyBaseEnv, secret+"x")
	setTokenClock(t, signedAt.Add(time.Hour))
	if _, err := connectWith(tokens["int"]); reasonOf(err) != "unauthorized" {
		t.Errorf("other secret: %v", err)
	}
}

func TestPhoenixTokenOffWithoutSecret(t *testing.T) {
	_, tokens, signedAt := phxdTokens(t)
	t.Setenv(secretKeyBaseEnv, "")
	setTokenClock(t, signedAt.Add(time.Hour))
	if _, err := connectWith(tokens["int"]); reasonOf(err) != "unauthorized" {
		t.Fatalf("without SECRET_KEY_BASE: %v", err)
	}
}

// TestPhoenixTokenWebSocket connects through a real phxd: an Elixir token
// is accepted, the same token a day later is closed with 4401 token_expired.
func TestPhoenixTokenWebSocket(t *testing.T) {
	secret, tokens, signedAt := phxdTokens(t)
	t.Setenv(secretKeyBaseEnv, secret)
	// The server reads the clock on its own goroutines: set it atomically.
	var now atomic.Int64
	now.Store(signedAt.Add(time.Hour).UnixMilli())
	old := phxTokenNow
	phxTokenNow = func() time.Time { return time.UnixMilli(now.Load()) }
	t.Cleanup(func() { phxTokenNow = old }) // runs after the server has stopped
	addr := startPhxd(t)
	// The server may send its first frames with the handshake: read them
	// from the bufio.Reader Dial returns.
	type rw struct {
		io.Reader
		io.Writer
	}
	dial := func() io.ReadWriter {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u := "ws://" + addr + "/socket/websocket?vsn=2.0.0&token=" + url.QueryEscape(tokens["int"])
		conn, br, _, err := ws.Dial(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if br == nil {
			return conn
		}
		return rw{br, conn}
	}
	conn := dial()
	if err := wsutil.WriteClientText(conn, []byte(`[null,"1","phoenix","heartbeat",{}]`)); err != nil {
		t.Fatal(err)
	}
	msg, err := wsutil.ReadServerText(conn)
	if err != nil || !strings.Contains(string(msg), `"status":"ok"`) {
		t.Fatalf("accepted socket: %s, %v", msg, err)
	}

	now.Store(signedAt.Add(86401 * time.Second).UnixMilli())
	conn = dial()
	msg, err = wsutil.ReadServerText(conn)
	if err != nil || !strings.Contains(string(msg), `"phx_connect_error",{"reason":"token_expired"}`) {
		t.Fatalf("expired: %s, %v", msg, err)
	}
	_, err = wsutil.ReadServerText(conn)
	var closed wsutil.ClosedError
	if !asClosed(err, &closed) || closed.Code != 4401 || closed.Reason != "token_expired" {
		t.Fatalf("expired: close %v", err)
	}
}
