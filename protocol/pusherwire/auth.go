package pusherwire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Channel authorization and user authentication signatures (§2.3, §4). An
// auth value is "<app key>:<hex HMAC-SHA256(app secret, string to sign)>":
//
//	private, private-encrypted  <socket_id>:<channel>
//	presence                    <socket_id>:<channel>:<channel_data>
//	user sign-in                <socket_id>::user::<user_data>
//
// channel_data and user_data are the exact strings the client sent.

// Sign returns the lower-case hex HMAC-SHA256 of message under secret: the
// signature of every kind of auth value, of HTTP API requests and of webhooks.
func Sign(secret, message string) string {
	return string(appendSignature(nil, secret, message))
}

func appendSignature(dst []byte, secret, message string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(message))
	var sum [sha256.Size]byte
	return hex.AppendEncode(dst, mac.Sum(sum[:0]))
}

// PrivateStringToSign returns "<socketID>:<channel>", the string signed for a
// private or private-encrypted channel, and for a presence channel subscribed
// to without channel_data by a signed-in user.
func PrivateStringToSign(socketID, channel string) string {
	return socketID + ":" + channel
}

// PresenceStringToSign returns "<socketID>:<channel>:<channelData>", the
// string signed for a presence channel.
func PresenceStringToSign(socketID, channel, channelData string) string {
	return socketID + ":" + channel + ":" + channelData
}

// UserStringToSign returns "<socketID>::user::<userData>", the string signed
// for pusher:signin.
func UserStringToSign(socketID, userData string) string {
	return socketID + "::user::" + userData
}

// AuthString returns the auth value "<key>:<signature>".
func AuthString(key, signature string) string {
	return key + ":" + signature
}

// PrivateAuth returns the auth value of a private (or private-encrypted)
// channel subscription, as an app's auth endpoint produces it.
func PrivateAuth(key, secret, socketID, channel string) string {
	return AuthString(key, Sign(secret, PrivateStringToSign(socketID, channel)))
}

// PresenceAuth returns the auth value of a presence channel subscription with
// channelData.
func PresenceAuth(key, secret, socketID, channel, channelData string) string {
	return AuthString(key, Sign(secret, PresenceStringToSign(socketID, channel, channelData)))
}

// UserAuth returns the auth value of a pusher:signin with userData.
func UserAuth(key, secret, socketID, userData string) string {
	return AuthString(key, Sign(secret, UserStringToSign(socketID, userData)))
}

// Sentinel errors of auth verification; an [*AuthError] matches one of them
// with errors.Is.
var (
	// ErrAuthMissing: the auth value is empty.
	ErrAuthMissing = errors.New("pusher: auth is missing")
	// ErrAuthFormat: the auth value is not "key:signature".
	ErrAuthFormat = errors.New("pusher: auth is not key:signature")
	// ErrAuthKey: the key part is not the app's key.
	ErrAuthKey = errors.New("pusher: auth key does not match")
	// ErrAuthSignature: the signature does not match.
	ErrAuthSignature = errors.New("pusher: invalid signature")
)

// AuthError says why an auth value was refused. Its Error text follows
// Pusher's ("Invalid signature: Expected HMAC SHA256 hex digest of …, but got
// …"); it names only the string to sign, which is not secret. The adapter
// answers a refused subscription with [AppendSubscriptionError] (type
// [SubscriptionErrorAuth], status 401) and a refused sign-in with
// [CodeUnauthorized].
type AuthError struct {
	// Err is one of ErrAuthMissing, ErrAuthFormat, ErrAuthKey,
	// ErrAuthSignature.
	Err error
	// StringToSign is what the signature had to cover.
	StringToSign string
	// Got is the signature part that was received (for ErrAuthSignature).
	Got string
}

// Error returns a message fit for the client.
func (e *AuthError) Error() string {
	switch e.Err {
	case ErrAuthMissing:
		return "Invalid signature: auth is missing"
	case ErrAuthFormat:
		return "Invalid signature: auth must be key:signature"
	case ErrAuthKey:
		return "Invalid key in auth"
	case ErrAuthSignature:
		return "Invalid signature: Expected HMAC SHA256 hex digest of " + e.StringToSign + ", but got " + e.Got
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *AuthError) Unwrap() error { return e.Err }

// VerifyAuth checks that auth is "<key>:<hex HMAC-SHA256(secret,
// stringToSign)>". The key must match exactly; the signature is compared in
// constant time, and hex digits must be lower-case, as every SDK writes them.
// It returns nil or an [*AuthError].
func VerifyAuth(key, secret, stringToSign, auth string) error {
	if auth == "" {
		return &AuthError{Err: ErrAuthMissing, StringToSign: stringToSign}
	}
	gotKey, gotSig, ok := strings.Cut(auth, ":")
	if !ok {
		return &AuthError{Err: ErrAuthFormat, StringToSign: stringToSign}
	}
	if gotKey != key {
		return &AuthError{Err: ErrAuthKey, StringToSign: stringToSign}
	}
	var buf [2 * sha256.Size]byte
	want := appendSignature(buf[:0], secret, stringToSign)
	if !hmac.Equal(want, []byte(gotSig)) {
		return &AuthError{Err: ErrAuthSignature, StringToSign: stringToSign, Got: gotSig}
	}
	return nil
}

// VerifyChannelAuth checks the auth of a pusher:subscribe on a channel that
// needs one. With channel_data (sub.HasChannelData) the presence form is
// checked, otherwise the private form: a presence subscription without
// channel_data, made by a signed-in user, is signed like a private one (§2.4).
func VerifyChannelAuth(key, secret, socketID string, sub Subscribe) error {
	if sub.HasChannelData {
		return VerifyAuth(key, secret, PresenceStringToSign(socketID, sub.Channel, sub.ChannelData), sub.Auth)
	}
	return VerifyAuth(key, secret, PrivateStringToSign(socketID, sub.Channel), sub.Auth)
}

// VerifyUserAuth checks the auth of a pusher:signin.
func VerifyUserAuth(key, secret, socketID string, s Signin) error {
	return VerifyAuth(key, secret, UserStringToSign(socketID, s.UserData), s.Auth)
}

// NewSocketID returns a fresh socket id "<digits>.<digits>": two random
// integers from 1 to 10^10−1, from crypto/rand (§1.3).
func NewSocketID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	const n = 1e10 - 1
	a := binary.LittleEndian.Uint64(b[:8])%n + 1
	c := binary.LittleEndian.Uint64(b[8:])%n + 1
	out := make([]byte, 0, 21)
	out = strconv.AppendUint(out, a, 10)
	out = append(out, '.')
	out = strconv.AppendUint(out, c, 10)
	return string(out)
}

// ValidSocketID reports whether s has the socket id format the SDKs require,
// ^\d+\.\d+$ (§1.3), with ASCII digits.
func ValidSocketID(s string) bool {
	dot := strings.IndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != dot && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}
