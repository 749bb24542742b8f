package pusherwire

import (
	"errors"
	"strings"
	"testing"
)

func TestClassifyChannel(t *testing.T) {
	for name, want := range map[string]ChannelType{
		"public":                    {Public, false},
		"my-channel":                {Public, false},
		"x-private-y":               {Public, false},
		"privatefoo":                {Public, false},
		"presencefoo":               {Public, false},
		"cache-x":                   {Public, true},
		"cachex":                    {Public, false},
		"private-x":                 {Private, false},
		"private-cache-x":           {Private, true},
		"private-encrypted-x":       {PrivateEncrypted, false},
		"private-encrypted-cache-x": {PrivateEncrypted, true},
		"private-encryptedx":        {Private, false},
		"presence-x":                {Presence, false},
		"presence-cache-x":          {Presence, true},
		"#server-to-user-42":        {ServerToUser, false},
		"#server-to-user-":          {Internal, false},
		"#other":                    {Internal, false},
		"":                          {Public, false},
	} {
		if got := ClassifyChannel(name); got != want {
			t.Errorf("ClassifyChannel(%q) = %+v, want %+v", name, got, want)
		}
	}
	for k, want := range map[ChannelKind][3]bool{ // RequiresAuth, AcceptsClientEvents, String non-empty
		Public:           {false, false, true},
		Private:          {true, true, true},
		Presence:         {true, true, true},
		PrivateEncrypted: {true, false, true},
		ServerToUser:     {false, false, true},
		Internal:         {false, false, true},
	} {
		if k.RequiresAuth() != want[0] || k.AcceptsClientEvents() != want[1] || k.String() == "" {
			t.Errorf("%v: RequiresAuth %v, AcceptsClientEvents %v", k, k.RequiresAuth(), k.AcceptsClientEvents())
		}
	}
	if id, ok := ServerToUserID(ServerToUserChannel("auth0|12")); !ok || id != "auth0|12" {
		t.Errorf("ServerToUserID: %q %v", id, ok)
	}
	if _, ok := ServerToUserID("private-x"); ok {
		t.Error("ServerToUserID accepted private-x")
	}
}

func TestValidateChannelName(t *testing.T) {
	valid := []string{"a", "public", "private-A_z-0.9=@,;", "presence-cache-x", strings.Repeat("a", 200),
		"#server-to-user-42", "#server-to-user-auth0|123", "#server-to-user-zoë@example.com"}
	for _, n := range valid {
		if err := ValidateChannelName(n, 0); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, tc := range []struct {
		name   string
		max    int
		err    error
		offset int
	}{
		{"", 0, ErrChannelNameEmpty, 0},
		{strings.Repeat("a", 201), 0, ErrChannelNameTooLong, 0},
		{strings.Repeat("a", 165), 164, ErrChannelNameTooLong, 0},
		{"a b", 0, ErrChannelNameInvalid, 1},
		{"private-x:y", 0, ErrChannelNameInvalid, 9},
		{"x/y", 0, ErrChannelNameInvalid, 1},
		{"zoë", 0, ErrChannelNameInvalid, 2},
		{"a#", 0, ErrChannelNameInvalid, 1},
		{"a*", 0, ErrChannelNameInvalid, 1},
		{"#other", 0, ErrChannelNameReserved, 0},
		{"#server-to-user-", 0, ErrChannelNameReserved, 0},
		{"#server-to-user-a\nb", 0, ErrChannelNameInvalid, 17},
		{"#server-to-user-a\xffb", 0, ErrChannelNameInvalid, 17},
	} {
		err := ValidateChannelName(tc.name, tc.max)
		var ce *ChannelNameError
		if !errors.Is(err, tc.err) || !errors.As(err, &ce) || ce.Offset != tc.offset {
			t.Errorf("%q (max %d): got %v, want %v at %d", tc.name, tc.max, err, tc.err, tc.offset)
			continue
		}
		if ce.Error() == "" {
			t.Errorf("%q: empty message", tc.name)
		}
	}
	if err := ValidateChannelName(strings.Repeat("a", 164), 164); err != nil {
		t.Errorf("164 with limit 164: %v", err)
	}
	err := ValidateChannelName(strings.Repeat("a", 201), 0)
	if !strings.Contains(err.Error(), "longer than 200") {
		t.Errorf("message %q", err)
	}
}

func TestCodes(t *testing.T) {
	for _, c := range []int{4000, 4001, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4100, 4200, 4201, 4202, 4301, 4302} {
		if CodeText(c) == "" {
			t.Errorf("no text for %d", c)
		}
	}
	if CodeText(4999) != "" {
		t.Error("text for an unknown code")
	}
	for code, want := range map[int]CloseAction{
		1000: CloseActionDefault, 1001: CloseActionDefault, 1002: CloseActionBackoff, 1004: CloseActionBackoff,
		1005: CloseActionDefault, 1006: CloseActionDefault, 3999: CloseActionDefault,
		4000: CloseActionTLSOnly, 4001: CloseActionRefused, 4009: CloseActionRefused, 4099: CloseActionRefused,
		4100: CloseActionBackoff, 4199: CloseActionBackoff, 4200: CloseActionRetry, 4201: CloseActionRetry,
		4299: CloseActionRetry, 4300: CloseActionRefused, 4301: CloseActionRefused, 4999: CloseActionRefused,
	} {
		if got := CloseActionFor(code); got != want {
			t.Errorf("CloseActionFor(%d) = %v, want %v", code, got, want)
		}
	}
	for v, want := range map[string]int{"7": 0, "": CodeNoProtocol, "x": CodeInvalidVersion, "7.0": CodeInvalidVersion,
		"-7": CodeInvalidVersion, "6": CodeUnsupportedProtocol, "8": CodeUnsupportedProtocol} {
		if got := CheckProtocol(v); got != want {
			t.Errorf("CheckProtocol(%q) = %d, want %d", v, got, want)
		}
	}
	if !IsClientEvent("client-x") || IsClientEvent("pusher:ping") || !IsProtocolEvent("pusher_internal:x") || IsProtocolEvent("client-x") {
		t.Error("event prefix checks")
	}
}
