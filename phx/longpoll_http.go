package phx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// lpMaxLines is how many lines of one POST are handled, as in Phoenix; the
// rest are ignored. The body's size is LongPollConfig.MaxBody.
const lpMaxLines = 100

// errLongPollBinary is returned by a binary write on a LongPoll session,
// which carries text frames only.
var errLongPollBinary = errors.New("phx: longpoll cannot send binary frames")

// serveLongPoll answers /longpoll requests as Phoenix does. Every logical
// status travels in a JSON body of an HTTP 200, as phoenix.js expects.
func (s *Server) serveLongPoll(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
		h.Set("Access-Control-Allow-Methods", "get, post, options")
		h.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodGet, http.MethodPost:
	default:
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !s.cfg.Origin.allows(r.Header.Get("Origin"), r.Host) {
		s.warn.Warn("longpoll refused: origin not allowed", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		writeLPStatus(w, 403)
		return
	}
	token := lpSessionToken(r)
	if r.Method == http.MethodPost {
		s.lpPost(w, r, token)
		return
	}
	s.lpGet(w, r, token)
}

// lpSessionToken reads the session token: the 1.9 header first, then the
// last `token` query param (the app may use `token` too; its value simply
// fails verification).
func lpSessionToken(r *http.Request) string {
	if t := r.Header.Get("X-Phoenix-Longpoll-Token"); t != "" {
		return t
	}
	if vals := r.URL.Query()["token"]; len(vals) > 0 {
		return vals[len(vals)-1]
	}
	return ""
}

func (s *Server) lpGet(w http.ResponseWriter, r *http.Request, token string) {
	arrived := time.Now()
	if s.lp.tokens.isReject(token, arrived) {
		waitCtx(r, rejectDelay)
		writeLPStatus(w, 403)
		return
	}
	if id, ok := s.lp.tokens.sessionID(token); ok {
		if ss := s.lp.get(id); ss != nil {
			msgs, end := ss.poll(r.Context(), s.lp.cfg.Window)
			switch {
			case end == lpLive && len(msgs) > 0:
				writeLPMessages(w, 200, token, msgs)
				return
			case end == lpLive:
				writeLPMessages(w, 204, token, nil)
				return
			case len(msgs) > 0:
				// the session's last messages, with a token whose poll
				// gets 403: the session itself is gone
				writeLPMessages(w, 200, s.lp.tokens.newReject(arrived, rejectTokenTTL), msgs)
				return
			}
			if d := ss.goneWait(); d > 0 {
				waitCtx(r, d)
			}
		}
		// Our session token, but its session is gone: ended by the
		// server, expired, or from before a restart with the same
		// Secret. Phoenix runs connect with the poll's params, whose
		// last `token` (phoenix.js ≤ 1.8 appends the session token) is
		// not the app's, so connect refuses it: {"status":403}, on which
		// every phoenix.js version reports an error, closes (1008) and
		// reconnects through connect, rejoining its channels. (A 410
		// would make 1.7 adopt a new session silently, its channels
		// dead.)
		writeLPStatus(w, 403)
		return
	}
	query := r.URL.RawQuery
	if _, _, ours := s.lp.tokens.open(token); ours && r.Header.Get("X-Phoenix-Longpoll-Token") == "" {
		// An expired reject token (≤1.8 clients send it as the last
		// `token` param) is ours, not the app's: connect sees the app's
		// own `token` param, if any, as on the client's first GET.
		query = dropLastParam(query, "token")
	}
	s.lpConnect(w, r, query)
}

// dropLastParam removes the last key=value pair named key from a raw query.
func dropLastParam(rawQuery, key string) string {
	pairs := strings.Split(rawQuery, "&")
	for i := len(pairs) - 1; i >= 0; i-- {
		k, _, _ := strings.Cut(pairs[i], "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == key {
			return strings.Join(append(pairs[:i:i], pairs[i+1:]...), "&")
		}
	}
	return rawQuery
}

// lpConnect is a session-creating GET: the connect flow of a WebSocket, with
// LongPoll's answers. query is the request's query as connect params.
func (s *Server) lpConnect(w http.ResponseWriter, r *http.Request, query string) {
	params := ParamsFromQuery(query)
	vsn, ver, err := parseVsn(params)
	if err != nil {
		s.warn.Warn("longpoll refused: unsupported vsn", "vsn", vsn, "remote", r.RemoteAddr)
		writeLPStatus(w, 403)
		return
	}
	// The places first: a client refused at the limits costs no Connect.
	remote := remoteAddrPort(r.RemoteAddr)
	peer := net.TCPAddrFromAddrPort(remote) // the event loop counts per-IP slots by it
	slot, ok := s.lp.admit(s.eventLoop(), peer)
	if !ok {
		s.lpRefuse(w, r, "too many sessions", lpRetryAfter)
		return
	}
	// The places go back on every path but a session that made it into
	// the map (which then releases them itself): a refused connect, a
	// shutdown meanwhile, and a panic in the app's Connect (recovered
	// further up, by net/http or the event loop's worker).
	started := false
	defer func() {
		if !started {
			s.lp.unadmit(slot, peer)
		}
	}()
	info := &ConnectInfo{Params: params, Header: r.Header, RemoteAddr: remote,
		AuthToken: r.Header.Get("X-Phoenix-AuthToken"), Transport: "longpoll", Vsn: vsn}
	assigns, ce := s.connect(info)
	if ce != nil {
		s.lpReject(w, ce, ver, r.RemoteAddr)
		return
	}
	sock := s.newSocket(info, ver, assigns)
	id, token := s.lp.tokens.newSession()
	ss := &lpSession{id: id, srv: s, sock: sock, slot: slot, peer: peer, lastPoll: time.Now(),
		done: make(chan struct{})}
	// opened sets sock.tr: do it before the session is findable, so the
	// sessions lock orders it before any POST's use of the socket.
	s.opened(sock, ss)
	if !s.lp.add(ss) { // shut down meanwhile: never in the map
		ss.close(CloseServiceRestart, "")
		s.lpRefuse(w, r, "shutting down", lpRetryAfter)
		return
	}
	started = true
	writeLPMessages(w, 410, token, nil)
}

// lpRefuse answers a request refused at a limit: HTTP 503 and
// Retry-After (msg is logged). A GET gets an empty body, which phoenix.js
// takes as a server error (500): onError, close 1011, reconnect with its
// growing backoff. (A JSON status it does not know would wedge it: it
// throws and stops polling; a body that is not JSON it logs to the
// console at every attempt.) A POST gets {"status":503}: phoenix.js
// reports it as the failed POST's error and reconnects.
func (s *Server) lpRefuse(w http.ResponseWriter, r *http.Request, msg, retryAfter string) {
	if n, warn := s.lp.refusedAtLimit(time.Now()); warn {
		s.log.Warn("longpoll refused at a limit", "why", msg, "refused", n, "remote", r.RemoteAddr,
			"max_sessions", s.lp.cfg.MaxSessions, "body_budget", s.lp.cfg.BodyBudget)
	}
	w.Header().Set("Retry-After", retryAfter)
	if r.Method == http.MethodPost {
		writeLPStatusCode(w, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
}

// lpReject answers a refused session: in frame mode the phx_connect_error
// message with a reject token (the next poll gets 403), else a bare 403.
func (s *Server) lpReject(w http.ResponseWriter, ce *ConnectError, ver serializer.Version, remote string) {
	s.stats.rejected.Add(1)
	s.stats.dash.rejectedFor(ce.Reason)
	if s.cfg.RejectMode == RejectHTTP {
		s.log.Info("connect rejected", "mode", "http", "transport", "longpoll", "code", ce.Code, "reason", ce.Reason, "remote", remote, "cause", ce.Err)
		writeLPStatus(w, 403)
		return
	}
	frame, err := connectErrorFrame(ver, ce)
	if err != nil {
		writeLPStatus(w, 403)
		return
	}
	s.log.Info("connect rejected", "mode", "frame", "transport", "longpoll", "code", ce.Code, "reason", ce.Reason, "remote", remote, "cause", ce.Err)
	writeLPMessages(w, 200, s.lp.tokens.newReject(time.Now(), rejectTokenTTL), []string{string(frame)})
}

func (s *Server) lpPost(w http.ResponseWriter, r *http.Request, token string) {
	id, ok := s.lp.tokens.sessionID(token)
	var ss *lpSession
	if ok {
		ss = s.lp.get(id)
	}
	if ss == nil || ss.isClosed() {
		// a closed session may still hold messages for one more poll,
		// but it takes nothing more
		writeLPStatus(w, 410)
		return
	}
	limit := s.lp.cfg.MaxBody
	if r.ContentLength > limit {
		s.lpTooLarge(w, ss, r.ContentLength)
		return
	}
	body, reserved, err := s.lp.readBody(w, r, limit)
	if err != nil {
		s.lp.giveBody(reserved)
		switch mbe := (*http.MaxBytesError)(nil); {
		case errors.As(err, &mbe):
			s.lpTooLarge(w, ss, -1)
		case errors.Is(err, errBodyBudget):
			w.Header().Set("Connection", "close") // the rest of the body is not read
			s.lpRefuse(w, r, "POST bodies over the budget", "1")
		default:
			http.Error(w, "longpoll: unreadable body", http.StatusBadRequest)
		}
		return
	}
	frames, err := lpFrames(r.Header.Get("Content-Type"), body)
	// The budget bounds bodies while they are read: a client holds its
	// share only for what it has sent. The frames below wait for the
	// session's turn and its inbound capacity outside it (each waiting
	// POST holds at most MaxBody, and connection limits bound the POSTs),
	// so a session whose channels are slow does not starve every other
	// client's POSTs.
	s.lp.giveBody(reserved)
	if err != nil {
		// as an undecodable frame closes a WebSocket (and an invalid JSON
		// line closes this session below)
		s.warn.Warn("longpoll: bad POST body: closing session", "socket", ss.sock.id, "err", err)
		ss.close(CloseInvalidPayload, "invalid message")
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ss.postMu.Lock()
	defer ss.postMu.Unlock()
	for _, f := range frames {
		if !ss.sock.waitInbound(r.Context(), ss.done) {
			if !ss.isClosed() {
				// over the inbound caps for too long (Config.InboundStall),
				// or the client gave up on the POST
				s.warn.Warn("longpoll: inbound work over its cap: closing session", "socket", ss.sock.id)
				ss.close(ClosePolicyViolation, "inbound queue full")
			}
			writeLPStatus(w, 410)
			return
		}
		if ss.isClosed() { // ended meanwhile (kicked, shut down): take nothing more
			writeLPStatus(w, 410)
			return
		}
		if err := ss.sock.handleFrame(f.data, f.binary); err != nil {
			s.warn.Warn("longpoll: bad message: closing session", "socket", ss.sock.id, "err", err)
			ss.close(closeCodeFor(err), closeReasonFor(err))
			http.Error(w, "longpoll: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	writeLPStatus(w, 200)
}

// A POST body is read into chunks reserved from BodyBudget as the bytes
// arrive: the first of lpBodyFirst bytes, each next one as large as what
// has arrived so far but at most lpBodyStep. A client trickling its body
// in holds about what it has sent (at most twice, and at most lpBodyStep
// more), never its declared length up front, and a body costs two copies
// of itself in allocations at most.
const (
	lpBodyFirst = 4 << 10
	lpBodyStep  = 64 << 10
)

var errBodyBudget = errors.New("phx: longpoll POST bodies over the budget")

// readBody reads a POST body of at most limit bytes, never past its
// declared length, reserving BodyBudget for each chunk before reading
// into it. It returns the bytes reserved (at least len(buf)), which the
// caller gives back, also on error: errBodyBudget when the budget has no
// room for the next chunk, or the reader's error (*http.MaxBytesError
// past limit).
func (lp *longPoll) readBody(w http.ResponseWriter, r *http.Request, limit int64) (buf []byte, reserved int64, err error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	declared := r.ContentLength
	most := limit + 1 // chunked: one byte over the limit shows it
	if declared >= 0 {
		most = declared
	}
	var chunks [][]byte
	var total int64
	for total < most {
		size := min(max(total, lpBodyFirst), lpBodyStep, most-total)
		if !lp.takeBody(size) {
			return nil, reserved, errBodyBudget
		}
		reserved += size
		chunk := make([]byte, size)
		n, err := io.ReadFull(body, chunk)
		chunks = append(chunks, chunk[:n])
		total += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if declared >= 0 {
				return nil, reserved, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return nil, reserved, err
		}
	}
	if len(chunks) == 1 {
		return chunks[0], reserved, nil
	}
	buf = make([]byte, 0, total)
	for _, c := range chunks {
		buf = append(buf, c...)
	}
	return buf, reserved, nil
}

// lpTooLarge answers a POST over MaxBody (HTTP 413, {"status":413}, which
// phoenix.js reports as the error of a failed POST) and closes its session,
// as an oversized message closes a WebSocket with 1009.
func (s *Server) lpTooLarge(w http.ResponseWriter, ss *lpSession, declared int64) {
	s.warn.Warn("longpoll: POST body over the limit: closing session", "socket", ss.sock.id,
		"limit", s.lp.cfg.MaxBody, "content_length", declared)
	ss.close(CloseTooBig, "message too big")
	w.Header().Set("Connection", "close") // the rest of the body is not read
	writeLPStatusCode(w, http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge)
}

type lpFrame struct {
	data   []byte
	binary bool
}

// lpFrames splits a POST body: NDJSON batches (text lines start with '[',
// other lines are base64 binary frames), or one text frame otherwise.
func lpFrames(contentType string, body []byte) ([]lpFrame, error) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/x-ndjson" {
		return []lpFrame{{data: body}}, nil
	}
	var frames []lpFrame
	for len(body) > 0 && len(frames) < lpMaxLines {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if line[0] == '[' {
			frames = append(frames, lpFrame{data: line})
			continue
		}
		bin := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
		n, err := base64.StdEncoding.Decode(bin, line)
		if err != nil {
			return nil, errors.New("longpoll: line " + strconv.Itoa(len(frames)+1) + " is neither a JSON array nor base64")
		}
		frames = append(frames, lpFrame{data: bin[:n], binary: true})
	}
	return frames, nil
}

func writeLPStatus(w http.ResponseWriter, status int) { writeLPStatusCode(w, http.StatusOK, status) }

// writeLPStatusCode writes {"status":status} with HTTP code (200 but for
// a body over the limit: Phoenix puts every logical status in a 200).
func writeLPStatusCode(w http.ResponseWriter, code, status int) {
	lpHeaders(w, code)
	_, _ = io.WriteString(w, `{"status":`+strconv.Itoa(status)+`}`)
}

// writeLPMessages writes {"messages":[…],"status":…,"token":…}, keys in
// Phoenix's order; each message is a whole frame as a JSON string.
func writeLPMessages(w http.ResponseWriter, status int, token string, msgs []string) {
	lpHeaders(w, http.StatusOK)
	st := json.BorrowStream(w)
	defer json.ReturnStream(st)
	st.WriteRaw(`{"messages":[`)
	for i, m := range msgs {
		if i > 0 {
			st.WriteMore()
		}
		st.WriteString(m)
	}
	st.WriteRaw(`],"status":`)
	st.WriteInt(status)
	st.WriteRaw(`,"token":`)
	st.WriteString(token)
	st.WriteRaw(`}`)
	_ = st.Flush()
}

func lpHeaders(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
}

// waitCtx sleeps for d or until the request is gone.
func waitCtx(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// remoteAddrPort reads an http.Request's RemoteAddr ("ip:port"; an address
// without its port gets port 0), the zero AddrPort when it holds no IP
// address. An IPv4 address is never IPv4-mapped IPv6. No name is looked
// up.
func remoteAddrPort(remote string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		ip, err := netip.ParseAddr(strings.Trim(remote, "[]"))
		if err != nil {
			return netip.AddrPort{}
		}
		ap = netip.AddrPortFrom(ip, 0)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
