package pusherwire

import (
	"encoding/json"
	"errors"
)

// ChannelData is a presence subscription's channel_data (§2.4).
type ChannelData struct {
	// Raw is the exact channel_data string, which the signature covers.
	Raw string
	// UserID is the user id as a string: a JSON string as it is, an integer
	// as its decimal digits exactly as written (Laravel signs integer ids).
	UserID string
	// UserIDIsNumber records that user_id was a JSON integer.
	UserIDIsNumber bool
	// UserInfo is the raw JSON of user_info, byte for byte as it appears in
	// Raw, or nil when absent.
	UserInfo json.RawMessage
}

// UserData is a sign-in's user_data (§4).
type UserData struct {
	// Raw is the exact user_data string, which the signature covers.
	Raw string
	// ID is the user id, a non-empty string.
	ID string
	// UserInfo is the raw JSON of user_info, or nil.
	UserInfo json.RawMessage
	// Watchlist is the raw JSON of watchlist (an array of user ids), or nil.
	Watchlist json.RawMessage
}

// Sentinel errors of channel_data and user_data parsing; a [*DataError]
// matches one of them with errors.Is.
var (
	// ErrDataInvalid: the string is not a JSON object.
	ErrDataInvalid = errors.New("pusher: not a JSON object")
	// ErrUserIDMissing: user_id (channel_data) or id (user_data) is absent,
	// null or empty.
	ErrUserIDMissing = errors.New("pusher: user id is missing")
	// ErrUserIDType: the user id is neither a string nor an integer
	// (channel_data), or not a string (user_data).
	ErrUserIDType = errors.New("pusher: user id has the wrong type")
)

// DataError says why channel_data or user_data was refused. The adapter
// answers with a subscription error (channel_data) or [CodeUnauthorized]
// (user_data).
type DataError struct {
	// Field is "channel_data" or "user_data".
	Field string
	// Err is one of ErrDataInvalid, ErrUserIDMissing, ErrUserIDType.
	Err error
}

// Error returns a message fit for the client.
func (e *DataError) Error() string {
	switch e.Err {
	case ErrDataInvalid:
		return "Invalid " + e.Field + ": not a JSON object"
	case ErrUserIDMissing:
		if e.Field == "user_data" {
			return "Invalid user_data: id is missing"
		}
		return "Invalid " + e.Field + ": user_id is missing"
	case ErrUserIDType:
		if e.Field == "user_data" {
			return "Invalid user_data: id must be a string"
		}
		return "Invalid " + e.Field + ": user_id must be a string or an integer"
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *DataError) Unwrap() error { return e.Err }

// ParseChannelData parses a presence channel_data string: a JSON object with
// user_id (a non-empty string, or an integer, kept as written: 42 becomes
// "42") and optional user_info (any JSON, kept as raw bytes). Other members
// are ignored. Check the signature over Raw, never over a re-encoding.
func ParseChannelData(s string) (ChannelData, error) {
	m, err := decodeObject([]byte(s), "", "")
	if err != nil {
		return ChannelData{}, &DataError{Field: "channel_data", Err: ErrDataInvalid}
	}
	cd := ChannelData{Raw: s}
	v := m["user_id"]
	switch {
	case isNull(v):
		return ChannelData{}, &DataError{Field: "channel_data", Err: ErrUserIDMissing}
	case v[0] == '"':
		if err := json.Unmarshal(v, &cd.UserID); err != nil {
			return ChannelData{}, &DataError{Field: "channel_data", Err: ErrDataInvalid}
		}
		if cd.UserID == "" {
			return ChannelData{}, &DataError{Field: "channel_data", Err: ErrUserIDMissing}
		}
	case isInteger(v):
		cd.UserID = string(v)
		cd.UserIDIsNumber = true
	default:
		return ChannelData{}, &DataError{Field: "channel_data", Err: ErrUserIDType}
	}
	if info, ok := m["user_info"]; ok {
		cd.UserInfo = info
	}
	return cd, nil
}

// isInteger reports whether a raw JSON number is an integer literal: an
// optional minus and digits, no fraction or exponent.
func isInteger(v json.RawMessage) bool {
	i := 0
	if len(v) > 0 && v[0] == '-' {
		i = 1
	}
	if i == len(v) {
		return false
	}
	for ; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// ParseUserData parses a sign-in user_data string: a JSON object with id, a
// non-empty string (pusher-js refuses anything else), and optional user_info
// and watchlist, kept as raw JSON.
func ParseUserData(s string) (UserData, error) {
	m, err := decodeObject([]byte(s), "", "")
	if err != nil {
		return UserData{}, &DataError{Field: "user_data", Err: ErrDataInvalid}
	}
	ud := UserData{Raw: s}
	v := m["id"]
	switch {
	case isNull(v):
		return UserData{}, &DataError{Field: "user_data", Err: ErrUserIDMissing}
	case v[0] != '"':
		return UserData{}, &DataError{Field: "user_data", Err: ErrUserIDType}
	}
	if err := json.Unmarshal(v, &ud.ID); err != nil {
		return UserData{}, &DataError{Field: "user_data", Err: ErrDataInvalid}
	}
	if ud.ID == "" {
		return UserData{}, &DataError{Field: "user_data", Err: ErrUserIDMissing}
	}
	if info, ok := m["user_info"]; ok {
		ud.UserInfo = info
	}
	if w, ok := m["watchlist"]; ok {
		ud.Watchlist = w
	}
	return ud, nil
}
