package sys

import (
	"os"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"
)

func TestParseSrc(t *testing.T) {
	a, err := ParseSrc("127.0.0.2-127.0.0.4,10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "count", len(a), 4)
	check.Eq(t, "last", a[3], [4]byte{10, 0, 0, 1})
	if _, err := ParseSrc("127.0.0.300"); err == nil {
		t.Error("bad address accepted")
	}
	if a, _ := ParseSrc("none"); a != nil {
		t.Error("none gave addresses")
	}
}

func TestFileLimit(t *testing.T) {
	if err := CheckNoFile(1 << 30); err == nil {
		t.Error("a billion sockets fit the file limit?")
	}
	if err := CheckNoFile(10); err != nil {
		t.Error(err)
	}
	_ = os.Getpid()
}
