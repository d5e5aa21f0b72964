package phx

// chanTable is a socket's topic → channel table (under Socket.mu). Most
// sockets join one channel, so the first lives in a field and a map is
// made only when a second is joined: an idle socket does not pay for a
// map (about 250 bytes with its first group).
type chanTable struct {
	one  *Channel
	more map[string]*Channel // the others, nil until there are any
}

// get returns the channel joined on topic, nil when none.
func (t *chanTable) get(topic string) *Channel {
	if t.one != nil && t.one.topic == topic {
		return t.one
	}
	return t.more[topic]
}

// put makes c the channel of its topic, replacing the current one.
func (t *chanTable) put(c *Channel) {
	switch {
	case t.one != nil && t.one.topic == c.topic:
		t.one = c
	case t.more[c.topic] != nil:
		t.more[c.topic] = c
	case t.one == nil:
		t.one = c
	default:
		if t.more == nil {
			t.more = make(map[string]*Channel, 1)
		}
		t.more[c.topic] = c
	}
}

// remove unregisters c if it is still its topic's channel.
func (t *chanTable) remove(c *Channel) {
	if t.one == c {
		t.one = nil
		return
	}
	if t.more[c.topic] == c {
		delete(t.more, c.topic)
		if len(t.more) == 0 {
			t.more = nil
		}
	}
}

// len counts the channels.
func (t *chanTable) len() int {
	n := len(t.more)
	if t.one != nil {
		n++
	}
	return n
}

// all lists the channels.
func (t *chanTable) all() []*Channel {
	out := make([]*Channel, 0, t.len())
	if t.one != nil {
		out = append(out, t.one)
	}
	for _, c := range t.more {
		out = append(out, c)
	}
	return out
}
