package pubsub

import (
	"sync"

	"github.com/phxgo/phxgo/serializer"
)

// compressedFrames holds a Broadcast's compressed frames, one per
// serializer version, made on first use.
type compressedFrames struct {
	v [2]struct {
		once  sync.Once
		frame []byte
	}
}

// Compressed returns compress(frame), where frame is b's encoding for v
// (from Encoded), computing it at most once per version however many
// subscribers ask: with no compression context kept between messages, one
// compressed frame serves every connection. The first caller's compress
// is the one used; the result is shared and must not be modified.
func (b *Broadcast) Compressed(v serializer.Version, frame []byte, compress func([]byte) []byte) []byte {
	if v != serializer.V1 && v != serializer.V2 {
		return compress(frame)
	}
	z := b.zip.Load()
	if z == nil {
		b.zip.CompareAndSwap(nil, new(compressedFrames))
		z = b.zip.Load()
	}
	e := &z.v[v-1]
	e.once.Do(func() { e.frame = compress(frame) })
	return e.frame
}
