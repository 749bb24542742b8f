package pusherwire

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// The test app of the spec's vectors (§2.3, §5.1).
const (
	specKey    = "278d425bdf160c739803"
	specSecret = "7ad3773142a6692b25b8"
	specSocket = "1234.1234"
)

func TestSignatureVectors(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"private-foobar", Sign(specSecret, PrivateStringToSign(specSocket, "private-foobar")),
			"58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"signin", Sign(specSecret, UserStringToSign(specSocket, `{"id":"12345"}`)),
			"4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
		{"private auth", PrivateAuth(specKey, specSecret, specSocket, "private-foobar"),
			specKey + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"user auth", UserAuth(specKey, specSecret, specSocket, `{"id":"12345"}`),
			specKey + ":4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	if got := PresenceStringToSign("1.2", "presence-x", `{"user_id":1}`); got != `1.2:presence-x:{"user_id":1}` {
		t.Errorf("presence string to sign %q", got)
	}
	if got := UserStringToSign("1.2", `{"id":"a"}`); got != `1.2::user::{"id":"a"}` {
		t.Errorf("user string to sign %q", got)
	}
}

func TestVerifyAuth(t *testing.T) {
	good := PrivateAuth(specKey, specSecret, specSocket, "private-foobar")
	sub := Subscribe{Channel: "private-foobar", Auth: good}
	if err := VerifyChannelAuth(specKey, specSecret, specSocket, sub); err != nil {
		t.Fatalf("good private auth: %v", err)
	}
	cd := `{"user_id":"1","user_info":{"name":"Ann"}}`
	psub := Subscribe{Channel: "presence-x", ChannelData: cd, HasChannelData: true,
		Auth: PresenceAuth(specKey, specSecret, specSocket, "presence-x", cd)}
	if err := VerifyChannelAuth(specKey, specSecret, specSocket, psub); err != nil {
		t.Fatalf("good presence auth: %v", err)
	}
	// A presence subscription of a signed-in user, without channel_data, is
	// signed like a private one.
	if err := VerifyChannelAuth(specKey, specSecret, specSocket, Subscribe{Channel: "presence-x",
		Auth: PrivateAuth(specKey, specSecret, specSocket, "presence-x")}); err != nil {
		t.Fatalf("presence without channel_data: %v", err)
	}
	sig := strings.TrimPrefix(good, specKey+":")
	for _, tc := range []struct {
		name     string
		socketID string
		sub      Subscribe
		err      error
	}{
		{"empty", specSocket, Subscribe{Channel: "private-foobar"}, ErrAuthMissing},
		{"no colon", specSocket, Subscribe{Channel: "private-foobar", Auth: sig}, ErrAuthFormat},
		{"other key", specSocket, Subscribe{Channel: "private-foobar", Auth: "other:" + sig}, ErrAuthKey},
		{"upper-case hex", specSocket, Subscribe{Channel: "private-foobar", Auth: specKey + ":" + strings.ToUpper(sig)}, ErrAuthSignature},
		{"tampered", specSocket, Subscribe{Channel: "private-foobar", Auth: good[:len(good)-1] + "5"}, ErrAuthSignature},
		{"other socket", "1234.1235", sub, ErrAuthSignature},
		{"other channel", specSocket, Subscribe{Channel: "private-foobaz", Auth: good}, ErrAuthSignature},
		{"channel_data changed", specSocket, Subscribe{Channel: "presence-x", Auth: psub.Auth, HasChannelData: true,
			ChannelData: `{"user_id":"1","user_info":{"name":"Bob"}}`}, ErrAuthSignature},
		{"channel_data re-encoded", specSocket, Subscribe{Channel: "presence-x", Auth: psub.Auth, HasChannelData: true,
			ChannelData: `{"user_id": "1", "user_info": {"name": "Ann"}}`}, ErrAuthSignature},
		{"channel_data dropped", specSocket, Subscribe{Channel: "presence-x", Auth: psub.Auth}, ErrAuthSignature},
	} {
		err := VerifyChannelAuth(specKey, specSecret, tc.socketID, tc.sub)
		var ae *AuthError
		if !errors.Is(err, tc.err) || !errors.As(err, &ae) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
	err := VerifyChannelAuth(specKey, specSecret, specSocket, Subscribe{Channel: "private-foobaz", Auth: good})
	if want := "Invalid signature: Expected HMAC SHA256 hex digest of 1234.1234:private-foobaz, but got " + sig; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	ud := `{"id":"12345"}`
	if err := VerifyUserAuth(specKey, specSecret, specSocket, Signin{Auth: UserAuth(specKey, specSecret, specSocket, ud), UserData: ud}); err != nil {
		t.Fatalf("good user auth: %v", err)
	}
	if err := VerifyUserAuth(specKey, specSecret, specSocket, Signin{Auth: UserAuth(specKey, specSecret, specSocket, ud), UserData: `{"id":"12346"}`}); !errors.Is(err, ErrAuthSignature) {
		t.Fatalf("changed user_data: %v", err)
	}
	// A channel signature is no user signature.
	if err := VerifyUserAuth(specKey, specSecret, specSocket, Signin{Auth: good, UserData: "private-foobar"}); !errors.Is(err, ErrAuthSignature) {
		t.Fatalf("channel auth as user auth: %v", err)
	}
}

func TestSocketID(t *testing.T) {
	re := regexp.MustCompile(`^\d+\.\d+$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewSocketID()
		if !re.MatchString(id) || !ValidSocketID(id) || strings.HasPrefix(id, "0") || strings.Contains(id, ".0") {
			t.Fatalf("bad socket id %q", id)
		}
		if seen[id] {
			t.Fatalf("repeated socket id %q", id)
		}
		seen[id] = true
	}
	for s, want := range map[string]bool{
		"1.2": true, "1234.1234": true, "0.0": true, "123456789012345678901234567890.1": true,
		"": false, ".": false, "1.": false, ".1": false, "1": false, "1.2.3": false, "a.1": false,
		"1.2\n": false, " 1.2": false, "١.٢": false, "-1.2": false, "1,2": false,
	} {
		if got := ValidSocketID(s); got != want || got != re.MatchString(s) {
			t.Errorf("ValidSocketID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseChannelData(t *testing.T) {
	for _, tc := range []struct {
		in     string
		id     string
		number bool
		info   string
	}{
		{`{"user_id":"1","user_info":{"name":"Ann"}}`, "1", false, `{"name":"Ann"}`},
		{`{"user_id":42}`, "42", true, ``},
		{`{"user_id":12345678901234567890,"user_info":null}`, "12345678901234567890", true, `null`},
		{`{"user_id":-3}`, "-3", true, ``},
		{` { "user_info" : { "a" : [ 1 , 2 ] } , "user_id" : "x\"y" } `, `x"y`, false, `{ "a" : [ 1 , 2 ] }`},
		{`{"user_id":"\u00e9","user_info":"text","extra":1}`, "é", false, `"text"`},
	} {
		cd, err := ParseChannelData(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if cd.Raw != tc.in || cd.UserID != tc.id || cd.UserIDIsNumber != tc.number || string(cd.UserInfo) != tc.info {
			t.Errorf("%s: got %+v (info %s)", tc.in, cd, cd.UserInfo)
		}
	}
	for in, want := range map[string]error{
		``:                     ErrDataInvalid,
		`nope`:                 ErrDataInvalid,
		`[]`:                   ErrDataInvalid,
		`"1"`:                  ErrDataInvalid,
		`{"user_id":"1"`:       ErrDataInvalid,
		`{}`:                   ErrUserIDMissing,
		`{"user_id":null}`:     ErrUserIDMissing,
		`{"user_id":""}`:       ErrUserIDMissing,
		`{"user_id":1.5}`:      ErrUserIDType,
		`{"user_id":1e3}`:      ErrUserIDType,
		`{"user_id":true}`:     ErrUserIDType,
		`{"user_id":{"id":1}}`: ErrUserIDType,
		`{"user_id":["1"]}`:    ErrUserIDType,
		`{"userid":"1"}`:       ErrUserIDMissing,
		`{"USER_ID":"1"}`:      ErrUserIDMissing,
	} {
		_, err := ParseChannelData(in)
		var de *DataError
		if !errors.Is(err, want) || !errors.As(err, &de) || de.Field != "channel_data" {
			t.Errorf("%q: got %v, want %v", in, err, want)
		}
	}
}

func TestParseUserData(t *testing.T) {
	ud, err := ParseUserData(`{"id":"u1","user_info":{"name":"Ann"},"watchlist":["u2","u3"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if ud.ID != "u1" || string(ud.UserInfo) != `{"name":"Ann"}` || string(ud.Watchlist) != `["u2","u3"]` {
		t.Fatalf("got %+v", ud)
	}
	for in, want := range map[string]error{
		`x`:             ErrDataInvalid,
		`{}`:            ErrUserIDMissing,
		`{"id":""}`:     ErrUserIDMissing,
		`{"id":12345}`:  ErrUserIDType,
		`{"id":["1"]}`:  ErrUserIDType,
		`{"user_id":1}`: ErrUserIDMissing,
	} {
		_, err := ParseUserData(in)
		if !errors.Is(err, want) {
			t.Errorf("%q: got %v, want %v", in, err, want)
		}
	}
}

// channel_data parsed from a subscribe goes out in member_added byte for byte.
func TestChannelDataToMemberAdded(t *testing.T) {
	cd, err := ParseChannelData(`{"user_id":7,"user_info":{"name":"Zoë","html":"<b>"}}`)
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFrame(AppendMemberAdded(nil, "presence-x", cd.UserID, cd.UserInfo))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.DataJSON()); got != `{"user_id":"7","user_info":{"name":"Zoë","html":"<b>"}}` {
		t.Fatalf("data %s", got)
	}
	var v struct {
		UserInfo json.RawMessage `json:"user_info"`
	}
	if err := json.Unmarshal(f.DataJSON(), &v); err != nil || string(v.UserInfo) != string(cd.UserInfo) {
		t.Fatalf("user_info %s, want %s (%v)", v.UserInfo, cd.UserInfo, err)
	}
}
