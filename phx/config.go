package phx

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/phxgo/phxgo/phx/pubsub"
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
	// RemoteAddr is the peer's IP address and port (Phoenix's peer_data),
	// the zero AddrPort when it has none (a Unix socket). It is a value of
	// 32 bytes, kept for the socket's life: Socket.RemoteAddr builds a
	// net.Addr from it when asked.
	RemoteAddr netip.AddrPort
	// AuthToken is the Phoenix ≥ 1.8 auth token (phoenix.js `authToken`),
	// from the Sec-WebSocket-Protocol header or, on LongPoll, from
	// X-Phoenix-AuthToken; "" when absent. Like Params, it is not kept
	// after Connect.
	AuthToken string
	// Transport is "websocket" or "longpoll".
	Transport string
	// Vsn is the serializer version the client asked for.
	Vsn string
}

// ConnectFunc authenticates a connecting client. It returns the socket's
// assigns, or an error: a *ConnectError refuses the socket with its code,
// reason and payload; any other error refuses it with CloseConnectFailed
// (4500) and reason internal_error (and is logged, never sent).
type ConnectFunc func(ctx context.Context, info *ConnectInfo) (Assigns, error)

// Config configures a Server. The zero value of every field is a sensible
// default.
//
// One rule holds for every duration and limit, here and in LongPollConfig,
// NetConfig and presence.Config: 0 means the default, and a negative
// value turns the setting off where it can be off (the field's comment says
// what a negative value does); a setting that cannot be off takes its
// default for a negative value too. phxd's flags follow the same rule.
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
	// disables): a client (same address and credentials, see BrakeKey)
	// refused again within it is answered HTTP 429 before the upgrade, so
	// phoenix.js backs off.
	RejectBrake time.Duration
	// BrakeEntries bounds the brake's memory (default 100,000 clients).
	BrakeEntries int
	// BrakeAddrRejections caps rejected connects per address (the IPv4
	// address or the IPv6 /64) within one RejectBrake window, whatever
	// their credentials (default 20; negative disables): past it every
	// connect from that address is answered 429 for a window, so a client
	// that varies its token per attempt, or sends none, cannot make Connect
	// run more often. Clients behind one NAT or proxy share the count.
	BrakeAddrRejections int
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
	// Net tunes the event loop that serves WebSockets (and, under Serve,
	// the listener's connections): timeouts, frame and queue sizes,
	// connection limits.
	Net NetConfig
	// Compress turns on permessage-deflate for WebSockets (off by
	// default; see CompressConfig).
	Compress CompressConfig
	// DrainBatch and DrainInterval pace Shutdown (defaults 10,000 sockets
	// every 2s, as Phoenix).
	DrainBatch    int
	DrainInterval time.Duration

	// Inbound message limits and client-triggered logging. Phoenix bounds
	// none of these; a server facing the internet must, or one client's
	// megabyte topics are kept for every channel it joins and its junk
	// frames fill the log. The defaults are far above what phoenix.js or any
	// real app sends. Negative values disable a limit; positive ones below
	// 16 bytes are raised to 16, so that the protocol's own topic, events
	// and refs ("phoenix", "heartbeat", "phx_leave", …) always fit.

	// MaxTopicBytes is the longest topic a client may send (default 1024
	// bytes; for a topic that is not a JSON string, its JSON text). A longer
	// one gets an error reply {"reason":"topic too long"} carrying the ref
	// and an empty topic (echoing the topic would send it back), and is
	// neither routed nor kept; the socket stays open.
	MaxTopicBytes int
	// MaxEventBytes is the longest event a client may send (default 256
	// bytes). A longer one gets an error reply {"reason":"event too long"}
	// on its topic and never reaches a channel; the socket stays open.
	MaxEventBytes int
	// MaxRefBytes is the longest ref or join_ref a client may send, as JSON
	// text (default 64 bytes; phoenix.js sends short decimal strings such as
	// "12"). A reply must echo the ref, so a longer one cannot be answered:
	// the socket is closed with ClosePolicyViolation (1008), reason
	// "ref too long".
	MaxRefBytes int
	// LogValueBytes is the most of any one string value (topic, event,
	// error text, …) written in a log line a client can trigger (default
	// 200 bytes); the rest is replaced by a marker such as
	// "…(+1048376 bytes)". Client-triggered lines are the warnings, the
	// INFO lines of refused, rejected or braked connects and lapsed join
	// deadlines, and the ERROR lines of handler errors and crashes.
	LogValueBytes int
	// LogWarnsPerSecond is how many client-triggered lines of one kind
	// (same level and message) are written per second (default 10); the
	// rest are dropped and counted, and one line per second at the same
	// level ("warnings suppressed" for WARN, "log lines suppressed"
	// otherwise) reports how many.
	LogWarnsPerSecond int

	// BrakeKey returns the credentials that identify a client to the
	// reconnect brake, besides its remote address (always part of the key:
	// the IPv4 address or the IPv6 /64). It runs before Connect, on the
	// same ConnectInfo. Default (nil): the "token" connect param and
	// AuthToken; when both are empty, the Cookie and Authorization
	// headers. When all are empty (or BrakeKey answers ""), nothing
	// identifies the client: a refused client's retries are not braked by
	// credential, so that the other clients behind its NAT or proxy are
	// not locked out, and only BrakeAddrRejections bounds them. An app
	// whose credential travels elsewhere (another param) returns it here;
	// it must not return what a client may vary freely per attempt (the
	// raw query, a nonce), or the brake can be defeated.
	BrakeKey func(info *ConnectInfo) string

	// Inbound backpressure: how much work one client may make the server
	// hold for it (see inbound.go).

	// MaxInbound is the most inbound work one socket may have outstanding
	// (default 1,024 units): client frames (joins, leaves, events) queued
	// or running in its channels' mailboxes, plus Channel.After timers
	// armed by its channels. When it is reached the server stops reading
	// the socket (a WebSocket is no longer read, so TCP pushes back on the
	// client; a LongPoll POST waits) until the work is back down to
	// InboundResume. What was already read when the pause came (the rest
	// of one read from the network) and the After timers of handlers
	// running then still come on top.
	MaxInbound int
	// InboundResume is the low-water mark where reading resumes (default,
	// and whenever it is not below MaxInbound: MaxInbound/2).
	InboundResume int
	// MaxInboundBytes caps the frame bytes of a socket's queued client
	// frames the same way (default 4 MiB; reading resumes at half).
	MaxInboundBytes int
	// InboundStall bounds how long a LongPoll POST waits for its session
	// to get back under the caps (default 30s): then, or when the POST's
	// client goes away while it waits, the session is closed with
	// ClosePolicyViolation and the POST answered {"status":410}, on which
	// phoenix.js reconnects (phoenix.js itself gives up on a POST after its
	// `timeout`, 10s by default, and reconnects too). A WebSocket paused
	// for too long is closed by the event loop (see Net.PauseTimeout).
	InboundStall time.Duration
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
	if c.BrakeAddrRejections == 0 {
		c.BrakeAddrRejections = 20
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
		c.PubSub = pubsub.NewMemory()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DrainBatch <= 0 {
		c.DrainBatch = 10_000
	}
	if c.DrainInterval <= 0 {
		c.DrainInterval = 2 * time.Second
	}
	c.MaxTopicBytes = wireLimit(c.MaxTopicBytes, 1024)
	c.MaxEventBytes = wireLimit(c.MaxEventBytes, 256)
	c.MaxRefBytes = wireLimit(c.MaxRefBytes, 64)
	c.LogValueBytes = defaultLimit(c.LogValueBytes, 200)
	c.LogWarnsPerSecond = defaultLimit(c.LogWarnsPerSecond, 10)

	if c.MaxInbound <= 0 {
		c.MaxInbound = 1024
	}
	if c.InboundResume <= 0 || c.InboundResume >= c.MaxInbound {
		c.InboundResume = c.MaxInbound / 2
	}
	if c.MaxInboundBytes <= 0 {
		c.MaxInboundBytes = 4 << 20
	}
	if c.InboundStall <= 0 {
		c.InboundStall = 30 * time.Second
	}
	return c
}

// defaultLimit returns def for an unset (zero) limit, -1 for a disabled
// (negative) one, and v otherwise.
func defaultLimit(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// minWireLimit is the least a topic, event or ref limit can be: the
// protocol's own names must fit.
const minWireLimit = 16

// wireLimit is defaultLimit for a wire string limit, raised to minWireLimit.
func wireLimit(v, def int) int {
	if v = defaultLimit(v, def); v >= 0 {
		return max(v, minWireLimit)
	}
	return v
}
