// Package wsframe is the server side of the WebSocket protocol (RFC 6455)
// as classgate's standalone server speaks it, after and including the
// opening handshake. It owns every byte on the wire:
//
//   - Accept checks a client's opening handshake (§4.2.1), refuses a bad
//     one with an HTTP error, and otherwise hijacks the connection and
//     writes the 101 response itself.
//   - Writer frames what the server sends into one buffer: data frames
//     (text, binary; unfragmented, unmasked, 7-, 16- or 64-bit lengths,
//     §5.2), control frames (ping, pong, close with a code and reason,
//     at most 125 bytes, §5.5) and, once a close frame is in, nothing
//     more (§5.5.1). It does no I/O: its owner writes Buffered() to the
//     socket however it likes (one write(2), io_uring, a blocking write)
//     and reports what left with Advance.
//   - Reader parses what the client sends: it requires masked frames
//     (§5.1), refuses reserved bits and opcodes (no extension is ever
//     negotiated), reassembles fragmented messages with control frames
//     between their fragments (§5.4), checks control frames and close
//     payloads (§5.5, §7.4), and enforces the message size limit (1009).
//     A violation is a *ProtocolError carrying the close code to send.
//
// The close handshake (§7) is the owner's loop: on the peer's close it
// writes the code it received back (Writer.Close; CloseNoStatus for a
// close frame without one gives an empty one) and closes the socket once
// that frame left; to close itself it writes Writer.Close and waits for
// the peer's close frame (Reader) before closing the socket.
//
// Deliberate choices: no extension is negotiated (permessage-deflate is
// not offered; the server never supported it), no subprotocol; a text
// message's UTF-8 is not checked here (the router answers invalid UTF-8
// with a bad_request error, as docs/PROTOCOL.md specifies, instead of
// closing with 1007); a close frame's reason is checked (1007).
package wsframe
