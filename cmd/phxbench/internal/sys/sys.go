package sys

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// Process-level helpers: file limits, source addresses, terminals.

// RaiseNoFile raises the soft open-files limit to the hard one.
func RaiseNoFile() {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &r)
	}
}

// fdSlack is the files a process needs besides its sockets.
const fdSlack = 64

// CheckNoFile fails when sockets sockets would not fit the open-files limit.
func CheckNoFile(sockets int) error {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	if uint64(sockets+fdSlack) > r.Cur {
		return fmt.Errorf("%w: %d sockets need %d open files, the limit is %d (use -procs to spread them over processes)",
			errTooManyFiles, sockets, sockets+fdSlack, r.Cur)
	}
	return nil
}

// ParseSrc parses "-src": "none", one IPv4 address, a range
// "127.0.0.2-127.0.0.33", or a comma-separated list of those.
func ParseSrc(s string) ([][4]byte, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out [][4]byte
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := ip4(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = ip4(hi); err != nil {
				return nil, err
			}
		}
		for x := u32(a); x <= u32(b); x++ {
			out = append(out, [4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
			if len(out) > 4096 {
				return nil, fmt.Errorf("-src: more than 4096 addresses")
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-src: empty range %q", s)
	}
	return out, nil
}

func ip4(s string) ([4]byte, error) {
	ip := net.ParseIP(strings.TrimSpace(s)).To4()
	if ip == nil {
		return [4]byte{}, fmt.Errorf("-src: %q is not an IPv4 address", s)
	}
	return [4]byte(ip), nil
}

func u32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// DefaultSrc is used for loopback targets: 32 source addresses give each
// (source, destination) pair its own ephemeral port range.
const DefaultSrc = "127.0.0.2-127.0.0.33"

// IsTTY reports whether fd is a terminal.
func IsTTY(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// errTooManyFiles is returned when the sockets would not fit the open-files limit.
var errTooManyFiles = errors.New("not enough open files")
