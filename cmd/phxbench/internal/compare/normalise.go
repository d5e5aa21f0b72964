package compare

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Normalise applies the rules, in order, to a transcript in place.
func Normalise(t *Transcript, rules []Rule) {
	for i := range rules {
		r := &rules[i]
		switch r.Kind {
		case KindRenumberRefs:
			renumberRefs(t, r)
		case KindReplaceKeys, KindReplacePattern:
			for s := range t.Steps {
				for j := range t.Steps[s].Entries {
					e := &t.Steps[s].Entries[j]
					switch {
					case r.Kind == KindReplacePattern && e.Dir == Info && len(r.Events) == 0 && len(r.Topics) == 0 && r.Dir == "":
						e.Info = r.re.ReplaceAllString(e.Info, r.With)
					case !r.matches(e):
					case r.Kind == KindReplaceKeys:
						e.Msg.Payload = replaceKeys(e.Msg.Payload, r.Keys, r.With)
					default:
						e.Msg.Topic = r.re.ReplaceAllString(e.Msg.Topic, r.With)
						e.Msg.Payload = replacePattern(e.Msg.Payload, r)
					}
				}
			}
		case KindDropEvents:
			for s := range t.Steps {
				st := &t.Steps[s]
				st.Entries = slices.DeleteFunc(st.Entries, func(e Entry) bool { return r.matches(&e) })
			}
		default:
			for s := range t.Steps {
				forEachRun(&t.Steps[s], func(run []Entry) []Entry { return reorder(run, r) })
			}
		}
	}
}

// renumberRefs replaces every ref and join_ref by #1, #2 … in the order each
// value first appears for its client: a client's own numbering (or a
// server's, for refs it makes up) then no longer matters, while which
// frames share a ref still does.
func renumberRefs(t *Transcript, r *Rule) {
	names := make([]map[string]string, len(t.Clients))
	for s := range t.Steps {
		for j := range t.Steps[s].Entries {
			e := &t.Steps[s].Entries[j]
			if !r.matches(e) {
				continue
			}
			if names[e.Client] == nil {
				names[e.Client] = map[string]string{}
			}
			m := names[e.Client]
			for _, p := range []*any{&e.Msg.JoinRef, &e.Msg.Ref} {
				if *p == nil {
					continue
				}
				k := encodeJSON(*p)
				n, ok := m[k]
				if !ok {
					n = fmt.Sprintf("#%d", len(m)+1)
					m[k] = n
				}
				*p = n
			}
		}
	}
}

// replaceKeys returns v with the value of every key in keys, at any depth,
// replaced by with.
func replaceKeys(v any, keys []string, with string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if slices.Contains(keys, k) {
				x[k] = with
			} else {
				x[k] = replaceKeys(val, keys, with)
			}
		}
	case []any:
		for i := range x {
			x[i] = replaceKeys(x[i], keys, with)
		}
	}
	return v
}

// replacePattern rewrites every string value (and object key) of v.
func replacePattern(v any, r *Rule) any {
	switch x := v.(type) {
	case string:
		return r.re.ReplaceAllString(x, r.With)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[r.re.ReplaceAllString(k, r.With)] = replacePattern(val, r)
		}
		return out
	case []any:
		for i := range x {
			x[i] = replacePattern(x[i], r)
		}
	}
	return v
}

// forEachRun calls f on every run of consecutive received frames of one
// client within a step (a send or an info entry of that client ends a run)
// and puts back what f returns. Ordering rules only move frames within a
// run: what a client sent, and when its connection closed, stay fixed
// points. The step's entries come out grouped by client, as Lines prints
// them.
func forEachRun(st *Step, f func([]Entry) []Entry) {
	byClient := map[int][]Entry{}
	var order []int
	for _, e := range st.Entries {
		if _, ok := byClient[e.Client]; !ok {
			order = append(order, e.Client)
		}
		byClient[e.Client] = append(byClient[e.Client], e)
	}
	slices.Sort(order)
	out := st.Entries[:0:0]
	for _, c := range order {
		es := byClient[c]
		for i := 0; i < len(es); {
			if es[i].Dir != Recv {
				out = append(out, es[i])
				i++
				continue
			}
			j := i
			for j < len(es) && es[j].Dir == Recv {
				j++
			}
			out = append(out, f(slices.Clone(es[i:j]))...)
			i = j
		}
	}
	st.Entries = out
}

// reorder applies an ordering rule to one run.
func reorder(run []Entry, r *Rule) []Entry {
	switch r.Kind {
	case KindMergeDiffs:
		return mergeDiffs(run, r)
	case KindUnorderedTop:
		// the matching frames are sorted by topic among the places they
		// hold; frames of one topic keep their order.
		var at []int
		var sel []Entry
		for i := range run {
			if r.matches(&run[i]) {
				at = append(at, i)
				sel = append(sel, run[i])
			}
		}
		slices.SortStableFunc(sel, func(a, b Entry) int { return strings.Compare(a.Msg.Topic, b.Msg.Topic) })
		for k, i := range at {
			run[i] = sel[k]
		}
		return run
	}
	// unordered_events: matching frames go to the end of the run, sorted by
	// their text; the others keep their order.
	var keep, loose []Entry
	for _, e := range run {
		if r.matches(&e) {
			loose = append(loose, e)
		} else {
			keep = append(keep, e)
		}
	}
	slices.SortStableFunc(loose, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Msg.Topic, b.Msg.Topic), strings.Compare(a.Msg.Text(), b.Msg.Text()))
	})
	return append(keep, loose...)
}

// mergeDiffs folds a run's matching presence_diff frames of one topic into
// the first of them: joins and leaves are united per key, their metas sorted
// by text. A server that batches changes and one that sends a diff per
// change then compare equal, as phoenix.js ends with the same list either
// way.
func mergeDiffs(run []Entry, r *Rule) []Entry {
	first := map[string]int{} // topic → index in out
	var out []Entry
	for _, e := range run {
		if !r.matches(&e) || (len(r.Events) == 0 && e.Msg.Event != "presence_diff") {
			out = append(out, e)
			continue
		}
		d, ok := e.Msg.Payload.(map[string]any)
		if !ok {
			out = append(out, e)
			continue
		}
		i, seen := first[e.Msg.Topic]
		if !seen {
			first[e.Msg.Topic] = len(out)
			out = append(out, e)
			continue
		}
		into := out[i].Msg.Payload.(map[string]any)
		for _, side := range []string{"joins", "leaves"} {
			into[side] = mergeSide(into[side], d[side])
		}
	}
	for _, i := range first {
		p := out[i].Msg.Payload.(map[string]any)
		for _, side := range []string{"joins", "leaves"} {
			sortMetas(p[side])
		}
	}
	return out
}

// mergeSide unites two {key: {"metas": [...]}} maps.
func mergeSide(a, b any) any {
	am, _ := a.(map[string]any)
	bm, ok := b.(map[string]any)
	if !ok {
		return a
	}
	if am == nil {
		am = map[string]any{}
	}
	for k, v := range bm {
		cur, ok := am[k].(map[string]any)
		add, ok2 := v.(map[string]any)
		if !ok || !ok2 {
			am[k] = v
			continue
		}
		cm, _ := cur["metas"].([]any)
		nm, _ := add["metas"].([]any)
		cur["metas"] = append(slices.Clone(cm), nm...)
	}
	return am
}

// sortMetas sorts each key's metas by their text.
func sortMetas(side any) {
	m, _ := side.(map[string]any)
	for _, v := range m {
		if p, ok := v.(map[string]any); ok {
			if metas, ok := p["metas"].([]any); ok {
				slices.SortStableFunc(metas, func(a, b any) int { return strings.Compare(encodeJSON(a), encodeJSON(b)) })
			}
		}
	}
}
