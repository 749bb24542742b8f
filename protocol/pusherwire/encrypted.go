package pusherwire

import "crypto/sha256"

// Encrypted channels ("private-encrypted-…", §2.5) need nothing special from
// the server: a subscription is authorized like a private one
// ([VerifyChannelAuth] over socket_id:channel), the shared_secret of the auth
// response is made by the app's auth endpoint and stays on the client, and
// event data ({"nonce","ciphertext"}, base64) is relayed unchanged. Client
// events are refused there ([ChannelKind.AcceptsClientEvents]).

// EncryptionMasterKeySize is the size of an app's encryption master key.
const EncryptionMasterKeySize = 32

// ChannelSharedSecret returns the key of an encrypted channel derived from the
// app's 32-byte master key: SHA-256 of the channel name's bytes followed by
// the master key. The auth endpoint sends it base64-encoded as shared_secret;
// the server never needs it, tests and auth endpoints do.
func ChannelSharedSecret(channel string, masterKey []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(channel))
	h.Write(masterKey)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
