package compare

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Normalisation rules are data: a JSON file {"rules":[…]} whose rules run in
// order over both transcripts before they are compared. The default set is
// rules.json (a copy ships as testdata/phxbench/compare/rules.json); -rules
// adds a user's file after it. README.md ("compare") documents the format.

//go:embed rules.json
var defaultRules []byte

// DefaultRules returns the built-in rule file's text.
func DefaultRules() []byte { return slices.Clone(defaultRules) }

// Rule kinds.
const (
	KindRenumberRefs   = "renumber_refs"   // refs and join_refs become #1, #2 … per client, by first appearance
	KindReplaceKeys    = "replace_keys"    // the values of the named object keys, at any depth of the payload, become "with"
	KindReplacePattern = "replace_pattern" // regexp matches inside string values (payload and topic) become "with"
	KindDropEvents     = "drop_events"     // matching frames are left out
	KindMergeDiffs     = "merge_presence_diffs"
	KindUnorderedEv    = "unordered_events" // matching frames may come in any order among a client's frames of one step
	KindUnorderedTop   = "unordered_topics" // frames of different topics may interleave in any order
)

var ruleKinds = []string{KindRenumberRefs, KindReplaceKeys, KindReplacePattern, KindDropEvents,
	KindMergeDiffs, KindUnorderedEv, KindUnorderedTop}

// Rule is one normalisation rule. Events, Topics and Dir narrow the frames
// it applies to (empty: all); Topics are prefixes.
type Rule struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Why     string   `json:"why,omitempty"`
	Events  []string `json:"events,omitempty"`
	Topics  []string `json:"topics,omitempty"`
	Dir     string   `json:"dir,omitempty"` // "send", "recv" or "" for both
	Keys    []string `json:"keys,omitempty"`
	Pattern string   `json:"pattern,omitempty"`
	With    string   `json:"with,omitempty"`

	re *regexp.Regexp
}

// RuleFile is the JSON document.
type RuleFile struct {
	Rules []Rule `json:"rules"`
}

// ParseRules decodes and checks a rule file (unknown fields are errors).
func ParseRules(data []byte) ([]Rule, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var f RuleFile
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid rule file: %w", err)
	}
	if d.More() {
		return nil, errors.New("trailing data after the rule object")
	}
	for i := range f.Rules {
		if err := f.Rules[i].check(); err != nil {
			return nil, fmt.Errorf("rules[%d] %q: %w", i, f.Rules[i].Name, err)
		}
	}
	return f.Rules, nil
}

// LoadRules reads a rule file.
func LoadRules(path string) ([]Rule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseRules(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// check validates a rule and compiles its pattern.
func (r *Rule) check() error {
	if r.Name == "" {
		return errors.New(`"name" is required`)
	}
	if !slices.Contains(ruleKinds, r.Kind) {
		return fmt.Errorf(`"kind" must be one of %s, got %q`, strings.Join(ruleKinds, ", "), r.Kind)
	}
	if r.Dir != "" && r.Dir != "send" && r.Dir != "recv" {
		return fmt.Errorf(`"dir" must be send, recv or empty, got %q`, r.Dir)
	}
	switch r.Kind {
	case KindReplaceKeys:
		if len(r.Keys) == 0 {
			return errors.New(`replace_keys needs "keys"`)
		}
	case KindReplacePattern:
		if r.Pattern == "" {
			return errors.New(`replace_pattern needs "pattern"`)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return fmt.Errorf(`"pattern": %w`, err)
		}
		r.re = re
	case KindDropEvents, KindUnorderedEv:
		if len(r.Events) == 0 {
			return fmt.Errorf(`%s needs "events"`, r.Kind)
		}
	}
	if len(r.Keys) > 0 && r.Kind != KindReplaceKeys {
		return errors.New(`"keys" only applies to replace_keys`)
	}
	if (r.Pattern != "") != (r.Kind == KindReplacePattern) {
		return errors.New(`"pattern" only applies to replace_pattern`)
	}
	return nil
}

// matches reports whether the rule applies to entry e.
func (r *Rule) matches(e *Entry) bool {
	if e.Dir == Info {
		return false
	}
	if r.Dir == "send" && e.Dir != Send || r.Dir == "recv" && e.Dir != Recv {
		return false
	}
	if len(r.Events) > 0 && !slices.Contains(r.Events, e.Msg.Event) {
		return false
	}
	if len(r.Topics) > 0 && !slices.ContainsFunc(r.Topics, func(p string) bool { return strings.HasPrefix(e.Msg.Topic, p) }) {
		return false
	}
	return true
}
