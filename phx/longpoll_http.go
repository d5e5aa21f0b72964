package phx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// LongPoll limits, as Phoenix's.
const (
	lpMaxLines = 100     // lines of one POST that are handled; the rest are ignored
	lpMaxBody  = 8 << 20 // POST body bytes
)

var (
	errLongPollBinary = errors.New("phx: longpoll cannot send binary frames")
	errSlowLongPoll   = errors.New("phx: longpoll session buffer full")
)

// serveLongPoll answers /longpoll requests (PROTOCOL §5). Every logical
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
		s.log.Warn("longpoll refused: origin not allowed", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
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
			msgs, gone := ss.poll(r.Context(), s.lp.cfg.Window)
			switch {
			case len(msgs) > 0:
				writeLPMessages(w, 200, token, msgs)
				return
			case !gone:
				writeLPMessages(w, 204, token, nil)
				return
			}
			if d := ss.goneWait(); d > 0 {
				waitCtx(r, d)
			}
		}
	}
	query := r.URL.RawQuery
	if _, _, ours := s.lp.tokens.open(token); ours && r.Header.Get("X-Phoenix-Longpoll-Token") == "" {
		// A lost session's token (≤1.8 clients send it as the last `token`
		// param) is ours, not the app's: connect sees the app's own
		// `token` param, if any, as on the client's first GET.
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
	params := parseParams(query)
	ver, err := parseVsn(params)
	if err != nil {
		s.log.Warn("longpoll refused: unsupported vsn", "vsn", params["vsn"], "remote", r.RemoteAddr)
		writeLPStatus(w, 403)
		return
	}
	info := &ConnectInfo{Params: params, Header: r.Header, RemoteAddr: tcpAddr(r.RemoteAddr),
		AuthToken: r.Header.Get("X-Phoenix-AuthToken"), Transport: "longpoll", Vsn: params["vsn"]}
	assigns, ce := s.connect(info)
	if ce != nil {
		s.lpReject(w, ce, ver, r.RemoteAddr)
		return
	}
	sock := s.newSocket(info, ver, assigns)
	id, token := s.lp.tokens.newSession()
	ss := &lpSession{id: id, srv: s, sock: sock, lastPoll: time.Now()}
	// opened sets sock.tr: do it before the session is findable, so the
	// sessions lock orders it before any POST's use of the socket.
	s.opened(sock, ss)
	s.lp.add(ss)
	writeLPMessages(w, 410, token, nil)
}

// lpReject answers a refused session: in frame mode the phx_connect_error
// message with a reject token (the next poll gets 403), else a bare 403.
func (s *Server) lpReject(w http.ResponseWriter, ce *ConnectError, ver serializer.Version, remote string) {
	s.stats.rejected.Add(1)
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lpMaxBody))
	if err != nil {
		http.Error(w, "longpoll: body too large or unreadable", http.StatusBadRequest)
		return
	}
	frames, err := lpFrames(r.Header.Get("Content-Type"), body)
	if err != nil {
		// as an undecodable frame closes a WebSocket (and an invalid JSON
		// line closes this session below)
		s.log.Warn("longpoll: bad POST body: closing session", "socket", ss.sock.id, "err", err)
		ss.close(1007, "invalid message")
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ss.postMu.Lock()
	defer ss.postMu.Unlock()
	for _, f := range frames {
		if !ss.sock.waitInbound(r.Context()) {
			// over the inbound caps for too long (Config.InboundStall)
			s.log.Warn("longpoll: inbound work over its cap: closing session", "socket", ss.sock.id)
			ss.close(1008, "inbound queue full")
			writeLPStatus(w, 410)
			return
		}
		if err := ss.sock.handleFrame(f.data, f.binary); err != nil {
			s.log.Warn("longpoll: bad message: closing session", "socket", ss.sock.id, "err", err)
			ss.close(closeCodeFor(err), "invalid message")
			http.Error(w, "longpoll: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	writeLPStatus(w, 200)
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

func writeLPStatus(w http.ResponseWriter, status int) {
	lpHeaders(w)
	_, _ = io.WriteString(w, `{"status":`+strconv.Itoa(status)+`}`)
}

// writeLPMessages writes {"messages":[…],"status":…,"token":…}, keys in
// Phoenix's order; each message is a whole frame as a JSON string.
func writeLPMessages(w http.ResponseWriter, status int, token string, msgs []string) {
	lpHeaders(w)
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

func lpHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
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

func tcpAddr(remote string) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", remote); err == nil {
		return a
	}
	return &net.TCPAddr{IP: net.ParseIP(strings.Trim(hostOnly(remote), "[]"))}
}
