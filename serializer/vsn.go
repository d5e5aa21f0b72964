package serializer

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a wire format version negotiated by the `vsn` connect param.
type Version uint8

const (
	V1 Version = 1 // JSON object frames, vsn ~> 1.0.0 (and when vsn is absent)
	V2 Version = 2 // JSON array frames + binary frames, vsn ~> 2.0.0
)

// String returns "v1", "v2", or "Version(n)" for an unknown value.
func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// maxVsnInError bounds how much of an untrusted vsn an error message repeats.
const maxVsnInError = 32

// ParseVsn maps the vsn connect param to a Version as Phoenix does.
//
// An empty vsn means the param was absent, which Phoenix treats as "1.0.0".
// Otherwise vsn must parse as an Elixir Version (MAJOR.MINOR.PATCH without
// leading zeros, optional -pre and +build identifiers) and match `~> 1.0.0`
// (V1) or `~> 2.0.0` (V2) as Version.match?/2 does with its default
// allow_pre: true. So "2.0.7" and "2.0.1-rc.1" are V2, while "2.0.0-rc.1"
// (which sorts before 2.0.0), "2.1.0", "123.1.1" and "2.0" are refused with
// an error wrapping ErrUnsupportedVsn. Build metadata is ignored.
func ParseVsn(vsn string) (Version, error) {
	if vsn == "" {
		return V1, nil
	}
	sv, ok := parseSemver(vsn)
	if !ok {
		return 0, fmt.Errorf("serializer: vsn %q is not a version: %w", truncate(vsn), ErrUnsupportedVsn)
	}
	switch {
	case sv.matchesTilde("1"):
		return V1, nil
	case sv.matchesTilde("2"):
		return V2, nil
	}
	return 0, fmt.Errorf("serializer: vsn %q matches neither ~> 1.0.0 nor ~> 2.0.0: %w", truncate(vsn), ErrUnsupportedVsn)
}

// semver holds the parts of a version that matching needs. The numbers stay
// decimal strings: Elixir integers are unbounded, and only "is it 0, 1 or 2"
// matters here.
type semver struct {
	major, minor, patch string
	pre                 bool
}

// matchesTilde reports whether the version matches `~> MAJOR.0.0`, that is
// >= MAJOR.0.0 and < MAJOR.1.0, with pre-releases of later patches allowed.
func (s semver) matchesTilde(major string) bool {
	return s.major == major && s.minor == "0" && (s.patch != "0" || !s.pre)
}

// parseSemver follows Elixir's Version.parse/1.
func parseSemver(v string) (semver, bool) {
	core, build, hasBuild := strings.Cut(v, "+")
	if hasBuild && !validIdentifiers(build, false) {
		return semver{}, false
	}
	core, pre, hasPre := strings.Cut(core, "-")
	if hasPre && !validIdentifiers(pre, true) {
		return semver{}, false
	}
	major, rest, ok1 := strings.Cut(core, ".")
	minor, patch, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !isNumber(major) || !isNumber(minor) || !isNumber(patch) {
		return semver{}, false
	}
	return semver{major: major, minor: minor, patch: patch, pre: hasPre}, true
}

// validIdentifiers checks dot-separated, non-empty [0-9A-Za-z-] identifiers.
// In a pre-release, an all-digit identifier must not have a leading zero.
func validIdentifiers(s string, pre bool) bool {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if pre && digits && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// isNumber reports a non-empty run of digits without a leading zero.
func isNumber(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > maxVsnInError {
		return s[:maxVsnInError] + "…"
	}
	return s
}
