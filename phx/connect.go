package phx

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/netpoll"
	"github.com/phxgo/phxgo/serializer"
)

// authTokenPrefix marks the subprotocol that carries phoenix.js's
// authToken (Phoenix ≥ 1.8 sends it as a Sec-WebSocket-Protocol entry).
const authTokenPrefix = "base64url.bearer.phx."

// handleUpgrade answers a WebSocket upgrade request for the event loop (see
// upgrader): it runs the checks Phoenix runs before a WebSocket connect
// (path, origin, vsn, subprotocol), the reconnect brake and the app's
// Connect, and decides how to answer.
func (s *Server) handleUpgrade(req *netpoll.UpgradeRequest) netpoll.UpgradeResponse {
	if req.Path != s.cfg.Path+"/websocket" {
		return netpoll.UpgradeResponse{Status: http.StatusNotFound}
	}
	remote := req.AddrPort() // kept in ConnectInfo; formatted only for a log line
	if !s.cfg.Origin.allows(req.Header.Get("Origin"), req.Host) {
		s.warn.Warn("connect refused: origin not allowed", "origin", req.Header.Get("Origin"), "remote", peerString(remote))
		return netpoll.UpgradeResponse{Status: http.StatusForbidden}
	}
	params := ParamsFromQuery(req.RawQuery)
	vsn, ver, err := parseVsn(params)
	if err != nil {
		s.warn.Warn("connect refused: unsupported vsn", "vsn", vsn, "remote", peerString(remote))
		return netpoll.UpgradeResponse{Status: http.StatusForbidden}
	}
	authToken, offered := splitAuthToken(req.Protocols)
	proto, ok := s.selectProtocol(offered)
	if !ok {
		s.warn.Warn("connect refused: no acceptable subprotocol", "offered", offered, "remote", peerString(remote))
		return netpoll.UpgradeResponse{Status: http.StatusForbidden}
	}
	cs := &connectState{info: ConnectInfo{Params: params, Header: req.Header, RemoteAddr: remote,
		AuthToken: authToken, Transport: "websocket", Vsn: vsn}}
	info := &cs.info
	var bid brakeID
	braking, hashed := s.brake != nil && s.cfg.RejectMode == RejectFrame, false
	// An empty brake brakes no one: the client's key is hashed only when
	// there is something to look it up in, or a rejection to record.
	if braking && s.brake.len() > 0 {
		bid, hashed = s.brake.id(brakeAddr(req.RemoteAddr), s.brakeCredentials(info)), true
		if body, left, braked := s.brake.check(bid, time.Now()); braked {
			return s.brakeResponse(body, left, remote)
		}
	}
	assigns, ce := s.connectWith(info, &cs.ctx)
	if ce != nil {
		if braking && !hashed {
			bid = s.brake.id(brakeAddr(req.RemoteAddr), s.brakeCredentials(info))
		}
		return s.rejectWebSocket(ce, ver, proto, bid, remote)
	}
	sock := s.newSocket(info, ver, assigns)
	return netpoll.UpgradeResponse{Protocol: proto, Handler: sock.handler()}
}

// brakeCredentials returns what identifies a client to the reconnect brake
// besides its address: Config.BrakeKey's answer, or the default
// credentials; nil when nothing does (an empty answer), so that clients
// sharing an address are not braked for one another's rejection.
func (s *Server) brakeCredentials(info *ConnectInfo) []string {
	if s.cfg.BrakeKey != nil {
		if k := s.cfg.BrakeKey(info); k != "" {
			return []string{k}
		}
		return nil
	}
	return defaultBrakeKey(info)
}

// connect runs the app's Connect and normalizes a refusal into a valid
// *ConnectError.
func (s *Server) connect(info *ConnectInfo) (Assigns, *ConnectError) {
	return s.connectWith(info, nil)
}

// connectState is what one WebSocket connect needs while Connect runs:
// the ConnectInfo the app sees and Connect's context, in one allocation
// (both are garbage once the socket is up). Together they also stay out of
// the Channels' size class (112 B), which the ConnectInfo alone shares; the
// idle suite showed no RSS difference from that within its spread.
type connectState struct {
	info ConnectInfo
	ctx  connectCtx
}

// connectWith is connect with the context's memory given (nil: its own).
func (s *Server) connectWith(info *ConnectInfo, ctx *connectCtx) (Assigns, *ConnectError) {
	if s.cfg.Connect == nil {
		return Assigns{}, nil
	}
	if ctx == nil {
		ctx = new(connectCtx)
	}
	ctx.deadline = time.Now().Add(s.cfg.ConnectTimeout)
	defer ctx.end()
	assigns, err := s.cfg.Connect(ctx, info)
	if err == nil {
		return assigns, nil
	}
	var ce *ConnectError
	if !errors.As(err, &ce) {
		s.warn.Error("connect failed", "err", err, "remote", peerString(info.RemoteAddr))
		return Assigns{}, &ConnectError{Code: CloseConnectFailed, Reason: "internal_error", Err: err}
	}
	if verr := ce.Validate(); verr != nil {
		s.warn.Error("connect handler returned an invalid ConnectError", "err", verr)
		return Assigns{}, &ConnectError{Code: CloseConnectFailed, Reason: "internal_error", Err: verr}
	}
	return Assigns{}, ce
}

// rejectWebSocket answers a refused connect: in frame mode by upgrading and
// sending phx_connect_error plus a close frame, in HTTP mode with a 403.
func (s *Server) rejectWebSocket(ce *ConnectError, ver serializer.Version, proto string,
	bid brakeID, remote netip.AddrPort) netpoll.UpgradeResponse {
	s.stats.rejected.Add(1)
	s.stats.dash.rejectedFor(ce.Reason)
	if s.cfg.RejectMode == RejectHTTP {
		s.warn.Info("connect rejected", "mode", "http", "code", ce.Code, "reason", ce.Reason, "remote", peerString(remote), "cause", ce.Err)
		return netpoll.UpgradeResponse{Status: http.StatusForbidden}
	}
	frame, err := connectErrorFrame(ver, ce)
	if err != nil {
		s.warn.Error("connect error payload", "err", err)
		ce = &ConnectError{Code: CloseConnectFailed, Reason: "internal_error"}
		frame, _ = connectErrorFrame(ver, ce)
	}
	s.warn.Info("connect rejected", "mode", "frame", "code", ce.Code, "reason", ce.Reason, "remote", peerString(remote), "cause", ce.Err)
	if s.brake != nil {
		body, _, _ := encodeObject(connectErrorPayload(ce))
		s.brake.record(bid, body, ce.RetryAfter, time.Now())
	}
	return netpoll.UpgradeResponse{Protocol: proto,
		Handler: &rejectHandler{frame: frame, code: ce.Code, reason: ce.Reason}}
}

// brakeResponse refuses a braked client before the upgrade.
func (s *Server) brakeResponse(body []byte, left time.Duration, remote netip.AddrPort) netpoll.UpgradeResponse {
	s.stats.braked.Add(1)
	secs := int((left + time.Second - 1) / time.Second)
	s.warn.Info("connect rejected", "mode", "brake", "code", http.StatusTooManyRequests, "retry_after", secs, "remote", peerString(remote))
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	return netpoll.UpgradeResponse{Status: http.StatusTooManyRequests, Header: h, Body: body}
}

func connectErrorPayload(ce *ConnectError) any {
	if ce.Payload != nil {
		return ce.Payload
	}
	return Reason(ce.Reason)
}

// connectErrorFrame encodes [null,null,"phoenix","phx_connect_error",payload].
func connectErrorFrame(ver serializer.Version, ce *ConnectError) ([]byte, error) {
	data, _, err := encodeObject(connectErrorPayload(ce))
	if err != nil {
		return nil, err
	}
	buf, _, err := serializer.Encode(ver, nil, &serializer.Message{Kind: serializer.KindPush,
		Topic: serializer.TopicPhoenix, Event: serializer.EventConnectError, Payload: data})
	return buf, err
}

// selectProtocol picks, in the server's order ("phoenix", then
// Config.Subprotocols), the first protocol the client offered. With no
// offer there is nothing to check.
func (s *Server) selectProtocol(offered []string) (string, bool) {
	if len(offered) == 0 {
		return "", true
	}
	for _, want := range append([]string{"phoenix"}, s.cfg.Subprotocols...) {
		for _, o := range offered {
			if o == want {
				return want, true
			}
		}
	}
	return "", false
}

// splitAuthToken takes phoenix.js's auth token protocol out of the offered
// list and decodes it (standard base64 alphabet, unpadded; URL alphabet
// accepted too).
func splitAuthToken(protocols []string) (token string, rest []string) {
	for _, p := range protocols {
		enc, ok := strings.CutPrefix(p, authTokenPrefix)
		if !ok || token != "" {
			if !ok {
				rest = append(rest, p)
			}
			continue
		}
		enc = strings.TrimRight(enc, "=")
		if b, err := base64.RawStdEncoding.DecodeString(enc); err == nil {
			token = string(b)
		} else if b, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
			token = string(b)
		}
	}
	return token, rest
}

// parseVsn negotiates the serializer: an absent vsn means 1.0.0, as in
// Phoenix, but an empty one is refused like any other unparsable version.
// vsn is the param as given ("" when absent).
func parseVsn(params Params) (vsn string, ver serializer.Version, err error) {
	vsn, ok := params.Lookup("vsn")
	if ok && vsn == "" {
		return vsn, 0, serializer.ErrUnsupportedVsn
	}
	ver, err = serializer.ParseVsn(vsn)
	return vsn, ver, err
}
