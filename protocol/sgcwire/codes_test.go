package sgcwire

import "testing"

func TestCodeTable(t *testing.T) {
	// The sgc texts are exact: clients compare them (no final period for 5).
	want := map[int]string{
		CodeMemberExists:          "Member already exists.",
		CodeMemberDenied:          "Create New Member request has been denied.",
		CodeMemberNotExists:       "Member not exists.",
		CodeChannelNotExists:      "Channel not exists",
		CodeChannelDenied:         "Create New Channel request has been denied.",
		CodeSubscriptionDenied:    "Create Subscription request has been denied.",
		CodeSubscriptionExists:    "Subscription already exists.",
		CodeSubscriptionNotExists: "Subscription not exists.",
		CodePublishDenied:         "Publish Message request has been denied.",
		CodeSendMembersDenied:     "Send Members request has been denied.",
		CodeNotOwnMember:          "Member id does not belong to this connection.",
		CodeRateLimited:           "Rate limit exceeded.",
		CodeInvitationDeclined:    "Invitation declined.",
	}
	for code, text := range want {
		if got := Text(code); got != text {
			t.Errorf("Text(%d) = %q, want %q", code, got, text)
		}
		if e := NewError(code); e.Code != code || e.Text != text {
			t.Errorf("NewError(%d) = %+v", code, e)
		}
	}
	codes := []int{1, 2, 3, 5, 6, 10, 11, 12, 20, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 100}
	if len(texts) != len(codes) {
		t.Errorf("the table has %d codes, want %d", len(texts), len(codes))
	}
	for _, c := range codes {
		if Text(c) == "" {
			t.Errorf("code %d has no text", c)
		}
	}
	if Text(999) != "" {
		t.Error("an unknown code has a text")
	}
}
