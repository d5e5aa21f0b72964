package serializer

import (
	"fmt"
	"sync"
)

// Cache encodes one outgoing message at most once per Version, however many
// sockets it is sent to: a broadcast to 10,000 subscribers costs one V1 and
// one V2 encoding. It is safe for concurrent use.
type Cache struct {
	msg Message
	enc [2]cachedEncoding // indexed by Version-1
}

type cachedEncoding struct {
	once     sync.Once
	frame    []byte
	isBinary bool
	err      error
}

// NewCache returns a Cache for m. The Cache keeps m's slices: the caller must
// not modify them afterwards.
func NewCache(m Message) *Cache {
	return &Cache{msg: m}
}

// Encoded returns m encoded for v, as Encode would, computing it on first
// use. The frame is shared by every caller: it must not be modified.
func (c *Cache) Encoded(v Version) (frame []byte, isBinary bool, err error) {
	if v != V1 && v != V2 {
		return nil, false, fmt.Errorf("serializer: encode %s: %w", v, ErrUnsupportedVsn)
	}
	e := &c.enc[v-1]
	e.once.Do(func() {
		e.frame, e.isBinary, e.err = Encode(v, nil, &c.msg)
	})
	return e.frame, e.isBinary, e.err
}
