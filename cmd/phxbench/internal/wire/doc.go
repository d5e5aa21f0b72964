// Package wire is the byte level of phxbench's WebSocket client: the
// upgrade request and its response, incremental frame parsing for an event
// loop, client and server frame building, and the two things phxbench adds
// to Phoenix messages, numeric refs and delivery stamps. Message encoding
// itself is the serializer package's. It depends on nothing else in
// phxbench (only gobwas/ws for frame headers).
package wire
