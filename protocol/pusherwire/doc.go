// Package pusher is the wire codec of the Pusher Channels protocol, version 7,
// as spoken by pusher-js 8.x, Laravel Echo 2.x and the `pusher` server SDKs.
//
// It is pure: it turns WebSocket frames into typed values and back, computes
// and checks the HMAC-SHA256 signatures (channel authorization, user
// authentication, HTTP API requests, webhooks), classifies and validates
// channel names, and names the protocol's error and close codes. It keeps no
// state, opens no sockets, serves no HTTP and makes no decisions about who may
// do what; the adapter (adapter/pusher) and the presence engine do that.
//
// The facts it implements are in shared/spec/pusher-protocol.md; section
// numbers in the comments (§2.3, …) point there.
//
// # Frames
//
// Every frame is a JSON object {"event", "channel"?, "data"?, "user_id"?}.
// Clients send data as a JSON object (a string holding JSON is accepted too);
// the server sends data as a JSON-encoded string ("double encoding"). Decode a
// client frame with [DecodeClientFrame]; encode server frames with the
// Append* functions, which write into a caller's []byte without reflection:
//
//	buf = pusher.AppendConnectionEstablished(buf[:0], socketID, 30)
//	buf = pusher.AppendMemberAdded(buf[:0], "presence-room", "42", userInfo)
//
// # Signatures
//
// Channel authorization ([VerifyChannelAuth]), user sign-in ([VerifyUserAuth]),
// HTTP API requests ([RequestVerifier], [SignRequest]) and webhooks
// ([SignWebhook], [VerifyWebhook]) are checked against the exact bytes that
// were signed, in constant time.
package pusherwire
