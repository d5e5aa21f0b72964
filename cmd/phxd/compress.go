package main

import (
	"flag"

	"github.com/phxgo/phxgo/phx"
)

// defineCompressFlags defines -compress.
func defineCompressFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.compress, "compress", false, "accept permessage-deflate on WebSockets (browsers and Node's ws offer it): frames of 128 bytes and more are compressed, each on its own (no context takeover), a broadcast once for all its subscribers; client frames are inflated within -max-frame")
}

// compressConfig is phx's compression setting for o.
func compressConfig(o *options) phx.CompressConfig {
	return phx.CompressConfig{Enabled: o.compress}
}
