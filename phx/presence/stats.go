package presence

// Stats counts what this node's Presence tracks (for dashboards).
type Stats struct {
	Topics    int // topics with presences tracked by this node's channels
	Owners    int // channel instances with tracked presences
	Presences int // presences tracked by this node's channels
}

// Stats returns the counts. It walks the tracked presences under their
// lock: cheap enough for a dashboard's once a second, not for a hot path.
func (p *Presence) Stats() Stats {
	var st Stats
	topics := make(map[string]struct{})
	p.ownersMu.Lock()
	st.Owners = len(p.owners)
	for _, o := range p.owners {
		st.Presences += len(o.entries)
		for k := range o.entries {
			topics[k.topic] = struct{}{}
		}
	}
	p.ownersMu.Unlock()
	st.Topics = len(topics)
	return st
}
