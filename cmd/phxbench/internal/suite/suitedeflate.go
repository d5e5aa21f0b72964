package suite

import (
	"slices"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

// The presence item's browser-like case: the same 10,000 joins into one
// room with phxd started with -compress and phxbench's clients offering
// permessage-deflate as Chromium and Firefox do (-compress), so that each
// presence_state and presence_diff goes out compressed (phxd compresses a
// shared one once for all who get it).

// deflateSuffix names the compressed twin of a case.
const deflateSuffix = "-deflate"

// deflateCase is c with permessage-deflate on both sides.
func deflateCase(c suiteCase) suiteCase {
	c.ID += deflateSuffix
	c.Args = append(slices.Clone(c.Args), "-compress")
	c.Server = append(slices.Clone(c.Server), "-compress")
	return c
}

// addDeflateFigures adds what a run with -compress says about compression.
func addDeflateFigures(f map[string]float64, r *engine.Result) {
	x := r.Compression
	if x == nil {
		return
	}
	f["deflate_offered"] = float64(x.Offered)
	f["deflate_negotiated"] = float64(x.Negotiated)
	f["bytes_in_inflated"] = float64(x.BytesPlain)
	f["messages_inflated"] = float64(x.Messages)
	setPos(f, "deflate_ratio", x.Ratio)
}

// deflateNote ends the presence item's note.
const deflateNote = " The rows marked *deflate* are the case `presence-10000-deflate`: the same run with phxd started with `-compress` and phxbench with `-compress` (its clients offer `permessage-deflate; client_max_window_bits` as Chromium and Firefox do, phxd answers with no context takeover either way, the clients inflate every compressed message and send their own frames uncompressed); its bytes are on the wire, and again with every compressed payload counted inflated."
