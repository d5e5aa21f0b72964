package phx

import (
	"compress/flate"

	"github.com/phxgo/phxgo/netpoll"
)

// CompressConfig turns on permessage-deflate (RFC 7692) for WebSockets.
// Off by default: no extension is accepted, as before.
//
// When on, a client's offer (browsers and Node's ws send one on every
// connect) is accepted without context takeover in either direction
// (netpoll.DeflateConfig has the details): each message is compressed on
// its own, so a broadcast's compressed frame is made once per serializer
// version and shared by every subscriber, and no socket keeps a
// compression window while idle. Replies and pushes are compressed one by
// one; frames under MinSize are sent as they are. LongPoll is unaffected.
//
// Without a shared window, small chat messages shrink little (about
// 10–30% at 100–200 bytes); larger JSON (presence_state of a busy room,
// bulk payloads) shrinks several-fold. See netpoll/DEFLATE.md.
type CompressConfig struct {
	Enabled bool
	// MinSize is the smallest frame compressed (default 128 bytes: below
	// it a lone JSON frame does not get smaller).
	MinSize int
	// Level is the compress/flate level (default flate.BestSpeed, 1).
	Level int
}

func (c CompressConfig) netpoll() netpoll.DeflateConfig {
	return netpoll.DeflateConfig{Enabled: c.Enabled, MinSize: c.minSize(), Level: c.Level}
}

func (c CompressConfig) minSize() int {
	if c.MinSize <= 0 {
		return netpoll.DefaultDeflateMinSize
	}
	return c.MinSize
}

// compressFrame compresses one frame; a variable so that tests count calls.
var compressFrame = netpoll.Deflate

// compressors[l-flate.HuffmanOnly] compresses at level l: made once, so
// that a delivery allocates no closure.
var compressors [flate.BestCompression - flate.HuffmanOnly + 1]func([]byte) []byte

func init() {
	for i := range compressors {
		level := i + flate.HuffmanOnly
		compressors[i] = func(p []byte) []byte { return compressFrame(p, level) }
	}
}

// compressAt is the compressor of a CompressConfig.Level (an invalid one:
// the default level, as netpoll.Deflate does).
func compressAt(level int) func([]byte) []byte {
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		level = 0
	}
	return compressors[level-flate.HuffmanOnly]
}

// compressingTransport is a transport that can send a frame compressed
// once for many sockets (a WebSocket that negotiated permessage-deflate).
type compressingTransport interface {
	compressing() bool
	sendCompressed(binary bool, deflated []byte) error
}

func (t wsTransport) compressing() bool { return t.c.Compressing() }

func (t wsTransport) sendCompressed(binary bool, deflated []byte) error {
	op := netpoll.OpText
	if binary {
		op = netpoll.OpBinary
	}
	return wsWriteErr(t.c.SendCompressed(op, deflated))
}

// compressorFor returns the socket's transport when frame goes out
// compressed on it: the transport compresses (permessage-deflate agreed)
// and frame is at least Compress.MinSize; nil otherwise.
func (s *Socket) compressorFor(frame []byte) compressingTransport {
	ct, ok := s.tr.(compressingTransport)
	if !ok || len(frame) < s.srv.cfg.Compress.minSize() || !ct.compressing() {
		return nil
	}
	return ct
}

// sendCompressedBroadcast is writeBroadcast's hook: on a socket whose
// transport compresses, it sends b's shared compressed frame (made once
// per serializer version for all subscribers) and reports true; false
// leaves the plain frame to the caller (no compression, or a frame under
// MinSize).
func (s *Socket) sendCompressedBroadcast(b *Broadcast, frame []byte, binary bool) bool {
	ct := s.compressorFor(frame)
	if ct == nil {
		return false
	}
	z := b.Compressed(s.ver, frame, compressAt(s.srv.cfg.Compress.Level))
	_ = ct.sendCompressed(binary, z)
	return true
}
