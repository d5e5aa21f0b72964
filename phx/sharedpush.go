package phx

import (
	"sync"

	"github.com/phxgo/phxgo/serializer"
)

// SharedPush is one push (an event and its JSON payload) sent to many
// channel instances, such as the presence_state that every joiner of a busy
// room receives: its frame is encoded once per serializer version, topic
// and join_ref, instead of once per channel. A push frame carries the
// instance's join_ref, but clients mostly share it (phoenix.js numbers a
// socket's messages from 1, so the first join of every socket has the same
// join_ref), so a few encodings serve every recipient. Past
// maxSharedFrames distinct frames, further ones are encoded per push
// without being kept. The frames are shared by the transports' queues:
// nothing modifies them. On sockets that negotiated permessage-deflate a
// kept frame is also compressed once and shared (a room's presence_state
// is hundreds of KB: compressing it for each joiner cost more than writing
// it plain). Safe for concurrent use.
type SharedPush struct {
	event   string
	payload []byte

	mu     sync.Mutex
	frames []sharedFrame
}

type sharedFrame struct {
	ver      serializer.Version
	topic    string
	joinRef  string
	frame    []byte
	binary   bool
	zLevel   int    // the level deflated was compressed at
	deflated []byte // frame compressed (permessage-deflate), made on first use
}

// maxSharedFrames bounds the frames a SharedPush keeps.
const maxSharedFrames = 8

// NewSharedPush builds a SharedPush of event with payload (a JSON object).
// The payload is kept, not copied: do not modify it afterwards.
func NewSharedPush(event string, payload RawJSON) (*SharedPush, error) {
	data, _, err := encodeObject(payload)
	if err != nil {
		return nil, err
	}
	return &SharedPush{event: event, payload: data}, nil
}

// Payload returns the payload. Do not modify it.
func (sp *SharedPush) Payload() []byte { return sp.payload }

// Frames returns how many encoded frames sp keeps.
func (sp *SharedPush) Frames() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.frames)
}

func (sp *SharedPush) encoded(ver serializer.Version, topic string, joinRef []byte) ([]byte, bool, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if f := sp.find(ver, topic, joinRef); f != nil {
		return f.frame, f.binary, nil
	}
	frame, binary, err := serializer.Encode(ver, nil, &serializer.Message{Kind: serializer.KindPush,
		JoinRef: joinRef, Topic: topic, Event: sp.event, Payload: sp.payload})
	if err == nil && len(sp.frames) < maxSharedFrames {
		sp.frames = append(sp.frames, sharedFrame{ver: ver, topic: topic, joinRef: string(joinRef),
			frame: frame, binary: binary})
	}
	return frame, binary, err
}

func (sp *SharedPush) find(ver serializer.Version, topic string, joinRef []byte) *sharedFrame {
	for i := range sp.frames {
		if f := &sp.frames[i]; f.ver == ver && f.topic == topic && f.joinRef == string(joinRef) {
			return f
		}
	}
	return nil
}

// compressed returns frame (one encoded returned for ver, topic and
// joinRef) compressed at level: once per kept frame and level, under the
// lock, so that the joiners of a window wait for one compression rather
// than each run their own; a frame not kept is compressed for this call.
func (sp *SharedPush) compressed(ver serializer.Version, topic string, joinRef, frame []byte, level int) []byte {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	f := sp.find(ver, topic, joinRef)
	if f == nil {
		return compressAt(level)(frame)
	}
	if f.deflated == nil || f.zLevel != level {
		f.deflated, f.zLevel = compressAt(level)(f.frame), level
	}
	return f.deflated
}

// PushShared sends sp to this client, exactly as Push(event, payload)
// would, from a frame shared with the other recipients of sp.
func (c *Channel) PushShared(sp *SharedPush) error {
	if chanState(c.state.Load()) == stateClosed {
		return c.closedErr()
	}
	frame, binary, err := sp.encoded(c.socket.ver, c.topic, c.joinRef)
	if err != nil {
		c.socket.srv.warn.Warn("encode failed", "topic", c.topic, "event", sp.event, "err", err)
		return err
	}
	s := c.socket
	var z []byte // the compressed frame, on a socket that compresses it
	ct := s.compressorFor(frame)
	if ct != nil {
		z = sp.compressed(s.ver, c.topic, c.joinRef, frame, s.srv.cfg.Compress.Level)
	}
	if chanState(c.state.Load()) == stateJoined {
		return s.sendShared(ct, binary, frame, z)
	}
	// Only a write held for a joining instance needs a closure (made
	// here, so the joined path above allocates none).
	var held error
	c.writeOrHold(func() { held = s.sendShared(ct, binary, frame, z) })
	return held
}

// sendShared writes z, the compressed frame, through ct when there is
// one, else the plain frame.
func (s *Socket) sendShared(ct compressingTransport, binary bool, frame, z []byte) error {
	if z != nil {
		return ct.sendCompressed(binary, z)
	}
	return s.tr.send(binary, frame)
}

// SkipChannels makes b skip the channel instances chans on this node (on
// top of b.From): for a message that these channels already have in
// another form, such as the presence_diff of a window whose joiners get a
// presence_state that includes it. Other nodes deliver b to all their
// subscribers. chans must not change until b is broadcast.
func SkipChannels(b *Broadcast, chans []*Channel) {
	if len(chans) == 0 {
		return
	}
	ids := make(map[uint64]struct{}, len(chans))
	for _, c := range chans {
		ids[c.id] = struct{}{}
	}
	b.Skip = func(id uint64) bool {
		_, skip := ids[id]
		return skip
	}
}
