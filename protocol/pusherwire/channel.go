package pusherwire

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxChannelNameLength is the channel name limit of the SDK and of
// soketi (200 bytes). Pusher's documentation says 164 (§2.1).
const DefaultMaxChannelNameLength = 200

// Channel name prefixes (§2.1, §2.6, §4).
const (
	// PrivatePrefix starts private channels.
	PrivatePrefix = "private-"
	// PresencePrefix starts presence channels.
	PresencePrefix = "presence-"
	// PrivateEncryptedPrefix starts end-to-end encrypted channels.
	PrivateEncryptedPrefix = "private-encrypted-"
	// CachePrefix starts public cache channels.
	CachePrefix = "cache-"
	// PrivateCachePrefix starts private cache channels.
	PrivateCachePrefix = "private-cache-"
	// PresenceCachePrefix starts presence cache channels.
	PresenceCachePrefix = "presence-cache-"
	// PrivateEncryptedCachePrefix starts encrypted cache channels.
	PrivateEncryptedCachePrefix = "private-encrypted-cache-"
	// ServerToUserPrefix starts the user channel of a signed-in user,
	// "#server-to-user-{user_id}".
	ServerToUserPrefix = "#server-to-user-"
)

// ChannelKind is the type of a channel, given by its name's prefix.
type ChannelKind uint8

const (
	// Public channels need no authorization.
	Public ChannelKind = iota
	// Private channels ("private-…") need a socket_id:channel signature.
	Private
	// Presence channels ("presence-…") need a signature over channel_data
	// too, and have members.
	Presence
	// PrivateEncrypted channels ("private-encrypted-…") are authorized like
	// private channels; the server relays ciphertext it cannot read.
	PrivateEncrypted
	// ServerToUser is the user channel "#server-to-user-{id}" (§4).
	ServerToUser
	// Internal is any other name that starts with "#": reserved, never
	// subscribable by clients.
	Internal
)

// String returns the kind's name ("public", "private", …).
func (k ChannelKind) String() string {
	switch k {
	case Public:
		return "public"
	case Private:
		return "private"
	case Presence:
		return "presence"
	case PrivateEncrypted:
		return "private-encrypted"
	case ServerToUser:
		return "server-to-user"
	case Internal:
		return "internal"
	}
	return "ChannelKind(" + strconv.Itoa(int(k)) + ")"
}

// RequiresAuth reports whether a subscription needs an auth signature
// (private, private-encrypted and presence channels).
func (k ChannelKind) RequiresAuth() bool {
	return k == Private || k == Presence || k == PrivateEncrypted
}

// AcceptsClientEvents reports whether clients may trigger client events on a
// channel of this kind: private and presence channels only (§3). Encrypted
// channels are refused: the server cannot read their payloads and the official
// clients never send there.
func (k ChannelKind) AcceptsClientEvents() bool {
	return k == Private || k == Presence
}

// ChannelType is what a channel's name says about it.
type ChannelType struct {
	// Kind is the channel type.
	Kind ChannelKind
	// Cache is true for the cache variants: "cache-", "private-cache-",
	// "presence-cache-" and "private-encrypted-cache-" (§2.6).
	Cache bool
}

// ClassifyChannel returns the type of the channel called name. The prefixes are
// tested in pusher-js's order: "private-encrypted-", "private-", "presence-",
// else the channel is public; names starting with "#" are internal (the user
// channel is [ServerToUser]). Only prefixes count: "x-private-y" is public. The
// name is not validated; see [ValidateChannelName].
func ClassifyChannel(name string) ChannelType {
	switch {
	case strings.HasPrefix(name, PrivateEncryptedPrefix):
		return ChannelType{PrivateEncrypted, strings.HasPrefix(name, PrivateEncryptedCachePrefix)}
	case strings.HasPrefix(name, PrivatePrefix):
		return ChannelType{Private, strings.HasPrefix(name, PrivateCachePrefix)}
	case strings.HasPrefix(name, PresencePrefix):
		return ChannelType{Presence, strings.HasPrefix(name, PresenceCachePrefix)}
	case strings.HasPrefix(name, ServerToUserPrefix) && len(name) > len(ServerToUserPrefix):
		return ChannelType{Kind: ServerToUser}
	case strings.HasPrefix(name, "#"):
		return ChannelType{Kind: Internal}
	}
	return ChannelType{Public, strings.HasPrefix(name, CachePrefix)}
}

// ServerToUserChannel returns the user channel of userID,
// "#server-to-user-{userID}".
func ServerToUserChannel(userID string) string {
	return ServerToUserPrefix + userID
}

// ServerToUserID returns the user id of a user channel name and true, or ""
// and false when name is not a user channel (or its id is empty).
func ServerToUserID(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, ServerToUserPrefix)
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// Sentinel errors of channel name validation; a [*ChannelNameError] matches
// one of them with errors.Is.
var (
	// ErrChannelNameEmpty: the name is empty.
	ErrChannelNameEmpty = errors.New("pusher: channel name is empty")
	// ErrChannelNameTooLong: the name is longer than the limit.
	ErrChannelNameTooLong = errors.New("pusher: channel name is too long")
	// ErrChannelNameInvalid: the name has a character outside
	// A-Z a-z 0-9 _ - = @ , . ;
	ErrChannelNameInvalid = errors.New("pusher: channel name has an invalid character")
	// ErrChannelNameReserved: the name starts with "#" and is not a user
	// channel.
	ErrChannelNameReserved = errors.New("pusher: channel name is reserved")
)

// ChannelNameError says why a channel name is not valid.
type ChannelNameError struct {
	// Name is the offending name.
	Name string
	// Err is one of the ErrChannelName* sentinels.
	Err error
	// Limit is the length limit, for ErrChannelNameTooLong.
	Limit int
	// Offset is the byte offset of the first bad character, for
	// ErrChannelNameInvalid.
	Offset int
}

// Error returns a message fit for a subscription error or an HTTP 400 body.
func (e *ChannelNameError) Error() string {
	switch e.Err {
	case ErrChannelNameEmpty:
		return "Channel name is empty"
	case ErrChannelNameTooLong:
		return "Channel name " + strconv.Quote(truncate(e.Name, 40)) + " is longer than " + strconv.Itoa(e.Limit) + " characters"
	case ErrChannelNameInvalid:
		return "Channel name " + strconv.Quote(e.Name) + " has an invalid character at offset " + strconv.Itoa(e.Offset) + "; allowed are A-Z a-z 0-9 _ - = @ , . ;"
	case ErrChannelNameReserved:
		return "Channel name " + strconv.Quote(e.Name) + " is reserved"
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel error.
func (e *ChannelNameError) Unwrap() error { return e.Err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validChannelByte reports whether c is allowed in a channel name (§2.1).
func validChannelByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '=', '@', ',', '.', ';':
		return true
	}
	return false
}

// ValidateChannelName checks a channel name (§2.1): not empty, at most maxLen
// bytes (maxLen <= 0 means [DefaultMaxChannelNameLength]), and made of
// A-Z a-z 0-9 _ - = @ , . ; only. Names starting with "#" are reserved, except
// the user channel "#server-to-user-{id}", whose id may hold any printable
// UTF-8 (the SDK lets any non-empty string be a user id); whether a socket may
// subscribe to it is the adapter's decision. It returns nil or a
// [*ChannelNameError].
func ValidateChannelName(name string, maxLen int) error {
	if maxLen <= 0 {
		maxLen = DefaultMaxChannelNameLength
	}
	if name == "" {
		return &ChannelNameError{Name: name, Err: ErrChannelNameEmpty}
	}
	if len(name) > maxLen {
		return &ChannelNameError{Name: name, Err: ErrChannelNameTooLong, Limit: maxLen}
	}
	if name[0] == '#' {
		id, ok := ServerToUserID(name)
		if !ok {
			return &ChannelNameError{Name: name, Err: ErrChannelNameReserved}
		}
		base := len(ServerToUserPrefix)
		for i, r := range id {
			if r == utf8.RuneError || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				// RuneError is also what an invalid byte decodes to;
				// a literal U+FFFD is refused with it, which is fine.
				return &ChannelNameError{Name: name, Err: ErrChannelNameInvalid, Offset: base + i}
			}
		}
		return nil
	}
	for i := 0; i < len(name); i++ {
		if !validChannelByte(name[i]) {
			return &ChannelNameError{Name: name, Err: ErrChannelNameInvalid, Offset: i}
		}
	}
	return nil
}
