package pusherwire

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The worked example of §5.1 (the test app of §2.3, POST /apps/3/events).
var (
	specBody = []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	specTime = time.Unix(1353088179, 0)
)

const (
	specBodyMD5   = "ec365a775a4cd0599faeb73354201b6f"
	specSignature = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
)

func TestSignRequestVector(t *testing.T) {
	if got := BodyMD5(specBody); got != specBodyMD5 {
		t.Fatalf("body_md5 %s", got)
	}
	if got := BodyMD5([]byte(`{}`)); got != "99914b932bd37a50b983c5e7c90ae93b" {
		t.Fatalf("body_md5 of {} %s", got)
	}
	q := SignRequest(specKey, specSecret, "POST", "/apps/3/events", nil, specBody, specTime)
	want := url.Values{
		"auth_key": {specKey}, "auth_timestamp": {"1353088179"}, "auth_version": {"1.0"},
		"body_md5": {specBodyMD5}, "auth_signature": {specSignature},
	}
	if q.Encode() != want.Encode() {
		t.Fatalf("got %s\nwant %s", q.Encode(), want.Encode())
	}
	if got := APIStringToSign("post", "/apps/3/events", q); got != "POST\n/apps/3/events\nauth_key="+specKey+
		"&auth_timestamp=1353088179&auth_version=1.0&body_md5="+specBodyMD5 {
		t.Fatalf("string to sign %q", got)
	}
	v := RequestVerifier{Key: specKey, Secret: specSecret, Now: func() time.Time { return specTime.Add(599 * time.Second) }}
	if err := v.Verify("POST", "/apps/3/events", want, specBody); err != nil {
		t.Fatalf("spec vector: %v", err)
	}
}

func TestAPIStringToSign(t *testing.T) {
	q := url.Values{
		"info":             {"user_count,subscription_count"},
		"filter_by_prefix": {"presence-"},
		"Auth_Key":         {"k"},
		"auth_signature":   {"x"},
		"channels[]":       {"a", "b"},
		"v":                {"a b&c=d"},
	}
	want := "GET\n/apps/1/channels\nauth_key=k&channels[]=a,b&filter_by_prefix=presence-&info=user_count,subscription_count&v=a b&c=d"
	if got := APIStringToSign("get", "/apps/1/channels", q); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := RequestVerifier{Key: "key", Secret: "secret", Now: func() time.Time { return now }}
	path := "/apps/1/events"
	body := []byte(`{"name":"e","channel":"c","data":"{}"}`)
	sign := func(q url.Values, b []byte, at time.Time) url.Values {
		return SignRequest("key", "secret", "POST", path, q, b, at)
	}
	good := sign(nil, body, now)
	if err := v.Verify("POST", path, good, body); err != nil {
		t.Fatalf("good: %v", err)
	}
	// A GET has no body and no body_md5; extra parameters are signed.
	get := SignRequest("key", "secret", "GET", "/apps/1/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, nil, now)
	if get.Has(ParamBodyMD5) {
		t.Fatal("GET has body_md5")
	}
	if err := v.Verify("GET", "/apps/1/channels", get, nil); err != nil {
		t.Fatalf("good GET: %v", err)
	}
	// The query as a server parses it from the URL.
	parsed, err := url.ParseQuery(get.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify("GET", "/apps/1/channels", parsed, nil); err != nil {
		t.Fatalf("parsed GET: %v", err)
	}
	with := func(q url.Values, k, val string) url.Values {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = append([]string(nil), vv...)
		}
		if val == "" {
			c.Del(k)
		} else {
			c.Set(k, val)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		q      url.Values
		body   []byte
		v      RequestVerifier
		err    error
		param  string
	}{
		{"no auth_key", "POST", path, with(good, ParamAuthKey, ""), body, v, ErrRequestParamMissing, ParamAuthKey},
		{"no timestamp", "POST", path, with(good, ParamAuthTimestamp, ""), body, v, ErrRequestParamMissing, ParamAuthTimestamp},
		{"no version", "POST", path, with(good, ParamAuthVersion, ""), body, v, ErrRequestParamMissing, ParamAuthVersion},
		{"no signature", "POST", path, with(good, ParamAuthSignature, ""), body, v, ErrRequestParamMissing, ParamAuthSignature},
		{"no body_md5", "POST", path, with(good, ParamBodyMD5, ""), body, v, ErrRequestParamMissing, ParamBodyMD5},
		{"wrong key", "POST", path, sign(nil, body, now), body, RequestVerifier{Key: "other", Secret: "secret", Now: v.Now}, ErrRequestKey, ParamAuthKey},
		{"wrong secret", "POST", path, good, body, RequestVerifier{Key: "key", Secret: "other", Now: v.Now}, ErrRequestSignature, ParamAuthSignature},
		{"version 2.0", "POST", path, with(good, ParamAuthVersion, "2.0"), body, v, ErrRequestVersion, ParamAuthVersion},
		{"timestamp not a number", "POST", path, with(good, ParamAuthTimestamp, "12.5"), body, v, ErrRequestTimestamp, ParamAuthTimestamp},
		{"601 s old", "POST", path, sign(nil, body, now.Add(-601*time.Second)), body, v, ErrRequestExpired, ParamAuthTimestamp},
		{"601 s ahead", "POST", path, sign(nil, body, now.Add(601*time.Second)), body, v, ErrRequestExpired, ParamAuthTimestamp},
		{"10 s old, window 5 s", "POST", path, sign(nil, body, now.Add(-10*time.Second)), body,
			RequestVerifier{Key: "key", Secret: "secret", Window: 5 * time.Second, Now: v.Now}, ErrRequestExpired, ParamAuthTimestamp},
		{"changed body", "POST", path, good, []byte(`{"name":"e","channel":"d","data":"{}"}`), v, ErrRequestBodyMD5, ParamBodyMD5},
		{"body_md5 and body changed", "POST", path, with(good, ParamBodyMD5, BodyMD5([]byte("x"))), []byte("x"), v, ErrRequestSignature, ParamAuthSignature},
		{"other path", "POST", "/apps/2/events", good, body, v, ErrRequestSignature, ParamAuthSignature},
		{"other method", "PUT", path, good, body, v, ErrRequestSignature, ParamAuthSignature},
		{"added parameter", "POST", path, with(good, "socket_id", "1.2"), body, v, ErrRequestSignature, ParamAuthSignature},
		{"upper-case signature", "POST", path, with(good, ParamAuthSignature, strings.ToUpper(good.Get(ParamAuthSignature))), body, v, ErrRequestSignature, ParamAuthSignature},
	} {
		err := tc.v.Verify(tc.method, tc.path, tc.q, tc.body)
		var re *RequestAuthError
		if !errors.Is(err, tc.err) || !errors.As(err, &re) || re.Param != tc.param {
			t.Errorf("%s: got %v, want %v on %s", tc.name, err, tc.err, tc.param)
			continue
		}
		if re.Status() != 401 || re.Error() == "" {
			t.Errorf("%s: status %d, message %q", tc.name, re.Status(), re.Error())
		}
	}
	// 600 s either way is still inside the window; a negative window turns
	// the check off.
	for _, d := range []time.Duration{-600 * time.Second, 600 * time.Second} {
		if err := v.Verify("POST", path, sign(nil, body, now.Add(d)), body); err != nil {
			t.Errorf("%v: %v", d, err)
		}
	}
	off := RequestVerifier{Key: "key", Secret: "secret", Window: -1, Now: v.Now}
	if err := off.Verify("POST", path, sign(nil, body, now.Add(-24*time.Hour)), body); err != nil {
		t.Errorf("window off: %v", err)
	}
	// The default clock is the real one.
	real := RequestVerifier{Key: "key", Secret: "secret"}
	if err := real.Verify("POST", path, sign(nil, body, time.Now()), body); err != nil {
		t.Errorf("real clock: %v", err)
	}
	err = v.Verify("POST", path, sign(nil, body, now.Add(-601*time.Second)), body)
	if want := "Timestamp expired: given timestamp (1699999399) not within 600s of server time (1700000000)"; err.Error() != want {
		t.Errorf("message %q", err)
	}
}
