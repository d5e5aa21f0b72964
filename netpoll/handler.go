package netpoll

import (
	"net"
	"net/http"
)

// UpgradeRequest is what the server read of a WebSocket upgrade request.
type UpgradeRequest struct {
	RemoteAddr net.Addr
	Host       string
	Path       string      // URL path, unescaped
	RawQuery   string      // raw query string, without '?'
	Header     http.Header // every request header, canonical keys (Host is in Host, as in net/http)
	Protocols  []string    // offered Sec-WebSocket-Protocol values, in order, trimmed
}

// UpgradeResponse is the decision about an upgrade request.
// Status 0 (or 101) upgrades; any other status answers with Status, Header
// and Body and closes the connection.
type UpgradeResponse struct {
	Status   int
	Header   http.Header
	Body     []byte
	Protocol string  // subprotocol to answer on success ("" answers none)
	Handler  Handler // receives the upgraded connection's events (required on success)
}

// upgrades reports whether r accepts the upgrade.
func (r *UpgradeResponse) upgrades() bool {
	return r.Status == 0 || r.Status == http.StatusSwitchingProtocols
}

// Upgrader decides about WebSocket upgrade requests. HandleUpgrade runs
// inline on an event-loop worker, in the connection's read task; it may
// block (an auth lookup, say): past the watchdog's budget another worker
// takes over the loop, so no other connection waits for it.
type Upgrader interface {
	HandleUpgrade(req *UpgradeRequest) UpgradeResponse
}

// Handler receives the events of one upgraded connection. Calls for one
// connection never overlap, except that Conn methods may be called from any
// goroutine at any time.
type Handler interface {
	// OnOpen runs once, right after the 101 response is written and before
	// any OnMessage.
	OnOpen(c *Conn)
	// OnMessage runs on a worker for each complete data message (fragments
	// reassembled), inline in the read task: what it sends on c goes out
	// in the same task. payload belongs to the handler from then on.
	OnMessage(c *Conn, op OpCode, payload []byte)
	// OnClose runs exactly once when the connection is gone, with the close
	// code and reason that ended it (sent or received; 1006 when the TCP
	// connection simply dropped). It runs only for connections that were
	// opened (OnOpen ran).
	OnClose(c *Conn, code int, reason string)
}
