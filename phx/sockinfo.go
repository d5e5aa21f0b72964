package phx

import (
	"slices"
	"strings"
)

// What a socket keeps of its connect. Most sockets keep nothing beyond
// their address, transport and one of the usual vsn values, and for them
// no ConnectInfo is kept at all (a 96-byte object per idle socket): the
// Socket's own small fields say it, and Info builds a ConnectInfo when
// asked. A socket with more to keep (headers named in KeepHeaders, an
// unusual vsn) keeps its ConnectInfo, stripped of what Connect alone sees.

// Transport and vsn codes of a Socket without a kept ConnectInfo.
const (
	infoWebSocket uint8 = iota
	infoLongPoll
)

const (
	infoVsnNone uint8 = iota // no vsn param
	infoVsn1                 // "1.0.0"
	infoVsn2                 // "2.0.0"
)

var (
	infoTransports = [...]string{infoWebSocket: "websocket", infoLongPoll: "longpoll"}
	infoVsns       = [...]string{infoVsnNone: "", infoVsn1: "1.0.0", infoVsn2: "2.0.0"}
)

// keepInfo records info in sock (info already holds only what may be
// kept): in its small fields when they say it all, else as a copy.
func (sock *Socket) keepInfo(info *ConnectInfo) {
	sock.remote = info.RemoteAddr
	tr := slices.Index(infoTransports[:], info.Transport)
	vsn := slices.Index(infoVsns[:], info.Vsn)
	if tr >= 0 && vsn >= 0 && info.Header == nil {
		sock.transport, sock.vsn = uint8(tr), uint8(vsn)
		return
	}
	// A copy: info may be part of a larger object (the WebSocket connect's
	// connectState, with Connect's context), which the socket must not
	// keep alive.
	kept := *info
	kept.Vsn = strings.Clone(info.Vsn) // do not pin the whole request URI
	sock.info = &kept
}

// Info returns what the socket kept of what the client presented at
// connect: its address, transport and vsn, and the headers named in
// Config.KeepHeaders (Params and AuthToken are seen by Connect only). It
// may be built on each call: treat it as read-only.
func (s *Socket) Info() *ConnectInfo {
	if s.info != nil {
		return s.info
	}
	return &ConnectInfo{RemoteAddr: s.remote, Transport: infoTransports[s.transport], Vsn: infoVsns[s.vsn]}
}

// vsnString is the vsn the client asked for (for log lines).
func (s *Socket) vsnString() string {
	if s.info != nil {
		return s.info.Vsn
	}
	return infoVsns[s.vsn]
}
