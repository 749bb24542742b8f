package pusherwire

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTP API request authentication (§5.1). Every request carries auth_key,
// auth_timestamp, auth_version=1.0, body_md5 (hex MD5 of a non-empty body) and
// auth_signature, the hex HMAC-SHA256 of
//
//	METHOD "\n" PATH "\n" k1=v1&k2=v2…
//
// over every other query parameter, keys lower-cased and sorted bytewise, raw
// (not URL-encoded).

// Query parameters of a signed HTTP API request.
const (
	// ParamAuthKey is the app key.
	ParamAuthKey = "auth_key"
	// ParamAuthTimestamp is the signing time in Unix seconds.
	ParamAuthTimestamp = "auth_timestamp"
	// ParamAuthVersion is always AuthVersion.
	ParamAuthVersion = "auth_version"
	// ParamBodyMD5 is the hex MD5 of a non-empty body.
	ParamBodyMD5 = "body_md5"
	// ParamAuthSignature is the signature; it is not signed itself.
	ParamAuthSignature = "auth_signature"
)

// AuthVersion is the only auth_version there is.
const AuthVersion = "1.0"

// DefaultTimestampWindow is how far auth_timestamp may be from the server's
// clock, either way (§5.1).
const DefaultTimestampWindow = 600 * time.Second

// BodyMD5 returns the lower-case hex MD5 of body, the body_md5 parameter.
func BodyMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// APIStringToSign returns the string an HTTP API signature covers: the
// upper-cased method, the path and the canonical query, joined by "\n". The
// canonical query holds every parameter but auth_signature, keys lower-cased
// and sorted bytewise, written k=v (values as they are, not URL-encoded) and
// joined by "&"; a key given more than once has its values joined by ",".
func APIStringToSign(method, path string, query url.Values) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(query))
	return b.String()
}

func canonicalQuery(query url.Values) string {
	params := make(map[string][]string, len(query))
	for k, vs := range query {
		lk := strings.ToLower(k)
		if lk == ParamAuthSignature {
			continue
		}
		params[lk] = append(params[lk], vs...)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.Join(params[k], ","))
	}
	return b.String()
}

// SignRequest returns a copy of query with the auth parameters added
// (auth_key, auth_timestamp from now, auth_version, body_md5 when body is not
// empty, auth_signature), as the `pusher` SDK signs a call. Put the result in
// the request URL with url.Values.Encode.
func SignRequest(key, secret, method, path string, query url.Values, body []byte, now time.Time) url.Values {
	q := make(url.Values, len(query)+5)
	for k, vs := range query {
		q[k] = slices.Clone(vs)
	}
	q.Del(ParamAuthSignature)
	q.Set(ParamAuthKey, key)
	q.Set(ParamAuthTimestamp, strconv.FormatInt(now.Unix(), 10))
	q.Set(ParamAuthVersion, AuthVersion)
	if len(body) > 0 {
		q.Set(ParamBodyMD5, BodyMD5(body))
	} else {
		q.Del(ParamBodyMD5)
	}
	q.Set(ParamAuthSignature, Sign(secret, APIStringToSign(method, path, q)))
	return q
}

// Sentinel errors of HTTP API request authentication; a [*RequestAuthError]
// matches one of them with errors.Is.
var (
	// ErrRequestParamMissing: an auth parameter is absent or empty.
	ErrRequestParamMissing = errors.New("pusher: auth parameter missing")
	// ErrRequestKey: auth_key is not the app's key.
	ErrRequestKey = errors.New("pusher: auth_key does not match")
	// ErrRequestVersion: auth_version is not 1.0.
	ErrRequestVersion = errors.New("pusher: unsupported auth_version")
	// ErrRequestTimestamp: auth_timestamp is not an integer.
	ErrRequestTimestamp = errors.New("pusher: invalid auth_timestamp")
	// ErrRequestExpired: auth_timestamp is outside the window.
	ErrRequestExpired = errors.New("pusher: auth_timestamp expired")
	// ErrRequestBodyMD5: body_md5 is not the MD5 of the body.
	ErrRequestBodyMD5 = errors.New("pusher: body_md5 does not match")
	// ErrRequestSignature: auth_signature does not match.
	ErrRequestSignature = errors.New("pusher: invalid auth_signature")
)

// RequestAuthError says which check of an HTTP API request failed. Every
// failure is an authentication failure: answer with [RequestAuthError.Status]
// (401) and the message.
type RequestAuthError struct {
	// Err is one of the ErrRequest* sentinels.
	Err error
	// Param is the query parameter that failed the check.
	Param string
	// Detail is a human-readable account (the string to sign for a bad
	// signature, the times for an expired timestamp).
	Detail string
}

// Error returns a message fit for the HTTP response body.
func (e *RequestAuthError) Error() string {
	var msg string
	switch e.Err {
	case ErrRequestParamMissing:
		msg = "Missing " + e.Param
	case ErrRequestKey:
		msg = "Invalid auth_key"
	case ErrRequestVersion:
		msg = "Unsupported auth_version (only " + AuthVersion + ")"
	case ErrRequestTimestamp:
		msg = "Invalid auth_timestamp"
	case ErrRequestExpired:
		msg = "Timestamp expired"
	case ErrRequestBodyMD5:
		msg = "Invalid body_md5"
	case ErrRequestSignature:
		msg = "Invalid signature"
	default:
		msg = e.Err.Error()
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel.
func (e *RequestAuthError) Unwrap() error { return e.Err }

// Status returns the HTTP status for the failure: 401 (Pusher answers bad
// authentication with 401; 403 is for disabled or over-quota apps, which is
// not this check's business).
func (e *RequestAuthError) Status() int { return 401 }

// RequestVerifier checks the signature of HTTP API requests for one app.
type RequestVerifier struct {
	// Key and Secret are the app's credentials.
	Key, Secret string
	// Window is how far auth_timestamp may be from Now, either way; 0 means
	// DefaultTimestampWindow, a negative value turns the check off (soketi
	// and Reverb do not check).
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks a request: method, path (the URL path the signature covers,
// e.g. "/apps/3/events"), query (the decoded query parameters) and body (the
// raw bytes received, nil or empty for none). The checks run in this order:
// every auth parameter present, auth_key, auth_version, auth_timestamp (an
// integer within the window), body_md5 (when the body is not empty) and the
// signature, compared in constant time. It returns nil or a
// [*RequestAuthError].
func (v *RequestVerifier) Verify(method, path string, query url.Values, body []byte) error {
	get := func(name string) string {
		if vs := query[name]; len(vs) > 0 {
			return vs[0]
		}
		for k, vs := range query {
			if len(vs) > 0 && strings.ToLower(k) == name {
				return vs[0]
			}
		}
		return ""
	}
	sig := get(ParamAuthSignature)
	key := get(ParamAuthKey)
	ts := get(ParamAuthTimestamp)
	ver := get(ParamAuthVersion)
	for _, p := range [...]struct{ name, value string }{
		{ParamAuthKey, key}, {ParamAuthTimestamp, ts}, {ParamAuthVersion, ver}, {ParamAuthSignature, sig},
	} {
		if p.value == "" {
			return &RequestAuthError{Err: ErrRequestParamMissing, Param: p.name}
		}
	}
	if key != v.Key {
		return &RequestAuthError{Err: ErrRequestKey, Param: ParamAuthKey}
	}
	if ver != AuthVersion {
		return &RequestAuthError{Err: ErrRequestVersion, Param: ParamAuthVersion, Detail: strconv.Quote(ver)}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &RequestAuthError{Err: ErrRequestTimestamp, Param: ParamAuthTimestamp, Detail: strconv.Quote(ts)}
	}
	if w := v.window(); w >= 0 {
		now := v.now()
		d := now.Sub(time.Unix(sec, 0))
		if d > w || d < -w {
			return &RequestAuthError{Err: ErrRequestExpired, Param: ParamAuthTimestamp,
				Detail: "given timestamp (" + ts + ") not within " + strconv.FormatFloat(w.Seconds(), 'f', -1, 64) +
					"s of server time (" + strconv.FormatInt(now.Unix(), 10) + ")"}
		}
	}
	if len(body) > 0 {
		got := get(ParamBodyMD5)
		if got == "" {
			return &RequestAuthError{Err: ErrRequestParamMissing, Param: ParamBodyMD5}
		}
		if want := BodyMD5(body); !hmac.Equal([]byte(got), []byte(want)) {
			return &RequestAuthError{Err: ErrRequestBodyMD5, Param: ParamBodyMD5}
		}
	}
	toSign := APIStringToSign(method, path, query)
	var buf [2 * sha256.Size]byte
	if !hmac.Equal(appendSignature(buf[:0], v.Secret, toSign), []byte(sig)) {
		return &RequestAuthError{Err: ErrRequestSignature, Param: ParamAuthSignature,
			Detail: "expected HMAC SHA256 hex digest of " + strconv.Quote(toSign)}
	}
	return nil
}

func (v *RequestVerifier) window() time.Duration {
	if v.Window == 0 {
		return DefaultTimestampWindow
	}
	return v.Window
}

func (v *RequestVerifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}
