package phx

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

// RejectMode chooses how a refused connect is answered.
type RejectMode int

const (
	// RejectFrame (the default) completes the WebSocket upgrade, sends one
	// phx_connect_error message and closes with the ConnectError's code and
	// reason, which browsers can read.
	RejectFrame RejectMode = iota
	// RejectHTTP answers the upgrade request with HTTP 403 and an empty
	// body, exactly as Phoenix does.
	RejectHTTP
)

// ConnectInfo is what a client presented when connecting.
type ConnectInfo struct {
	// Params are the query parameters (connect params plus vsn); when a key
	// repeats, the last value wins, as in Phoenix. Like Phoenix, the socket
	// does not keep them after Connect: put what you need in the assigns.
	Params Params
	// Header holds the request headers (Origin, Cookie, User-Agent, …)
	// while Connect runs; afterwards the socket keeps only those named in
	// Config.KeepHeaders (an idle socket should not carry every header).
	Header http.Header
	// RemoteAddr is the peer address.
	RemoteAddr net.Addr
	// AuthToken is the Phoenix ≥ 1.8 auth token (phoenix.js `authToken`),
	// from the Sec-WebSocket-Protocol header or, on LongPoll, from
	// X-Phoenix-AuthToken; "" when absent.
	AuthToken string
	// Transport is "websocket" or "longpoll".
	Transport string
	// Vsn is the serializer version the client asked for.
	Vsn string
}

// Params are connect parameters, one value per key.
type Params map[string]string

// Get returns the value of key, "" when absent.
func (p Params) Get(key string) string { return p[key] }

// ConnectFunc authenticates a connecting client. It returns the socket's
// assigns, or an error: a *ConnectError refuses the socket with its code,
// reason and payload; any other error refuses it as
// 4500 internal_error (and is logged, never sent).
type ConnectFunc func(ctx context.Context, info *ConnectInfo) (Assigns, error)

// Config configures a Server. The zero value of every field is a sensible
// default.
type Config struct {
	// Path is where the socket is mounted (default "/socket"): WebSocket at
	// Path+"/websocket", LongPoll at Path+"/longpoll".
	Path string
	// Connect authenticates sockets; nil accepts everyone with no assigns.
	Connect ConnectFunc
	// KeepHeaders lists the request headers Socket.Info keeps after
	// Connect (Phoenix's connect_info: [:x_headers …]); the rest are
	// dropped once Connect has seen them.
	KeepHeaders []string
	// ConnectTimeout bounds Connect (default 10s).
	ConnectTimeout time.Duration
	// ID names a socket (e.g. "users_socket:42") so that a "disconnect"
	// broadcast on that topic closes every socket of that user; nil or ""
	// means anonymous.
	ID func(s *Socket) string
	// Origin is the check_origin policy (default: only loopback origins,
	// see OriginPolicy.Hosts; requests without Origin pass).
	Origin OriginPolicy
	// Subprotocols are accepted besides "phoenix", in preference order.
	Subprotocols []string
	// RejectMode picks how refused connects are answered (default RejectFrame).
	RejectMode RejectMode
	// RejectBrake is the reconnect brake window (default 10s; negative
	// disables): a client (same IP and credentials) refused again within it
	// is answered HTTP 429 before the upgrade, so phoenix.js backs off.
	RejectBrake time.Duration
	// BrakeEntries bounds the brake's memory (default 100,000 clients).
	BrakeEntries int
	// JoinDeadline closes sockets that joined no channel within it with
	// phx_connect_error {"reason":"join_timeout"} and close 4408 (default
	// 30s; negative disables).
	JoinDeadline time.Duration
	// MaxChannels is the most channels one socket may join (default 100).
	MaxChannels int
	// PubSub carries broadcasts (default an in-memory PubSub).
	PubSub PubSub
	// Logger receives structured lifecycle logs (default slog.Default()).
	Logger *slog.Logger
	// LongPoll configures the LongPoll transport (on by default).
	LongPoll LongPollConfig
	// Net configures the WebSocket event loop.
	Net netpoll.Config
	// DrainBatch and DrainInterval pace Shutdown (defaults 10,000 sockets
	// every 2s, as Phoenix).
	DrainBatch    int
	DrainInterval time.Duration

	// --- Reconnect brake identity (issue 10) ---

	// BrakeKey returns the credentials that identify a client to the
	// reconnect brake, besides its remote IP (always part of the key). It
	// runs before Connect, on the same ConnectInfo. Default (nil): the
	// "token" connect param and AuthToken. An app whose credential travels
	// elsewhere (another param, a cookie, a header) returns it here; it
	// must not return what a client may vary freely per attempt (the raw
	// query, a nonce), or the brake can be defeated.
	BrakeKey func(info *ConnectInfo) string
}

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = "/socket"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.RejectBrake == 0 {
		c.RejectBrake = 10 * time.Second
	}
	if c.BrakeEntries <= 0 {
		c.BrakeEntries = 100_000
	}
	if c.JoinDeadline == 0 {
		c.JoinDeadline = 30 * time.Second
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = 100
	}
	if c.PubSub == nil {
		c.PubSub = NewMemoryPubSub()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Net.Logger == nil {
		c.Net.Logger = c.Logger
	}
	if c.DrainBatch <= 0 {
		c.DrainBatch = 10_000
	}
	if c.DrainInterval <= 0 {
		c.DrainInterval = 2 * time.Second
	}
	return c
}
