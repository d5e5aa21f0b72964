package compat_test

import (
	"testing"
)

// compressResult is what js/compress.js's compress_chat reports.
type compressResult struct {
	ExtensionsA string `json:"extensions_a"`
	ExtensionsB string `json:"extensions_b"`
	Params      map[string]any
	Echo        []struct {
		Status string `json:"status"`
		Same   bool   `json:"same"`
	} `json:"echo"`
	Broadcasts []struct {
		Status    string `json:"status"`
		Received  bool   `json:"received"`
		Same      bool   `json:"same"`
		BytesRead int    `json:"bytes_read"`
	} `json:"broadcasts"`
	Small struct {
		Status string `json:"status"`
	} `json:"small"`
}

// phoenix.js over Node's ws (which offers permessage-deflate on every
// connect) against phxd -compress: the extension is negotiated without
// context takeover, join, echo (ws compresses its own large frames) and
// broadcast work, and a large broadcast arrives compressed: the client's
// TCP socket reads a fraction of its size. Against phxd without -compress
// (the shared server) nothing is negotiated and it arrives whole.
func TestJSCompress(t *testing.T) {
	t.Parallel()
	const bodyLen = 4000
	z := startServer(t, "-compress")
	for _, tc := range []struct {
		name string
		srv  *phxd
		on   bool
	}{{"compress", z, true}, {"plain", shared, false}} {
		t.Run(tc.name, func(t *testing.T) {
			forEachLib(t, func(t *testing.T, lib jsLib) {
				room := "room:" + uniq("z"+tc.name+libTag(lib))
				r := runJSWith[compressResult](t, tc.srv, lib, "./js/compress.js", "compress_chat",
					map[string]any{"room": room, "bodyLen": bodyLen})
				wantExt := ""
				if tc.on {
					wantExt = "permessage-deflate"
				}
				if r.ExtensionsA != wantExt || r.ExtensionsB != wantExt {
					t.Fatalf("extensions %q, %q; want %q", r.ExtensionsA, r.ExtensionsB, wantExt)
				}
				if tc.on && (r.Params["server_no_context_takeover"] != true || r.Params["client_no_context_takeover"] != true) {
					t.Fatalf("negotiated parameters %v", r.Params)
				}
				if len(r.Echo) != 2 || len(r.Broadcasts) != 2 || r.Small.Status != "ok" {
					t.Fatalf("result %+v", r)
				}
				for i, e := range r.Echo {
					if e.Status != "ok" || !e.Same {
						t.Fatalf("echo %d: %+v", i, e)
					}
				}
				t.Logf("broadcast frames (body %d bytes): the client read %d and %d bytes", bodyLen, r.Broadcasts[0].BytesRead, r.Broadcasts[1].BytesRead)
				for i, b := range r.Broadcasts {
					if b.Status != "ok" || !b.Received || !b.Same {
						t.Fatalf("broadcast %d: %+v", i, b)
					}
					// The broadcast frame is about bodyLen+60 bytes; the repeated
					// sentence compresses more than 10×.
					if compressed := b.BytesRead < bodyLen/4; compressed != tc.on {
						t.Fatalf("broadcast %d: the client read %d bytes for a %d-byte body (compression %v)",
							i, b.BytesRead, bodyLen, tc.on)
					}
				}
			})
		})
	}
}
