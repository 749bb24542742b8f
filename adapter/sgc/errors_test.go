package sgc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

func TestEveryReasonHasACode(t *testing.T) {
	seen := map[int]presence.Reason{}
	for _, r := range presence.Reasons() {
		e, ok := errorFrame(fmt.Errorf("wrapped: %w", r))
		if !ok || e.Code == 0 || e.Text != sgcwire.Text(e.Code) {
			t.Errorf("%q: error frame %+v, %v", r, e, ok)
		}
		if prev, dup := seen[e.Code]; dup {
			t.Errorf("%q and %q share code %d", r, prev, e.Code)
		}
		seen[e.Code] = r
	}
}

func TestErrorFrameOfAHooksRefusal(t *testing.T) {
	tests := []struct {
		err  error
		want sgcwire.Error
	}{
		{&presence.Error{Reason: presence.ErrPublishDenied, Text: "muted"}, sgcwire.Error{Code: 20, Text: "muted"}},
		{&presence.Error{Reason: presence.ErrPublishDenied, Code: 77}, sgcwire.Error{Code: 77, Text: sgcwire.Text(20)}},
		{presence.ErrChannelFull, sgcwire.NewError(sgcwire.CodeChannelFull)},
		{invalid("why"), sgcwire.Error{Code: 40, Text: "Invalid message: why."}},
	}
	for _, tt := range tests {
		if got, ok := errorFrame(tt.err); !ok || got != tt.want {
			t.Errorf("errorFrame(%v) = %+v, %v; want %+v", tt.err, got, ok, tt.want)
		}
	}
	if _, ok := errorFrame(errors.New("socket broke")); ok {
		t.Error("an error that is no refusal got an error frame")
	}
}

func TestAckQueueClosed(t *testing.T) {
	var q ackQueue
	q.add("A", &pendingFrame{body: []byte("a")})
	if q.Len() != 1 {
		t.Fatalf("Len = %d", q.Len())
	}
	q.drop()
	q.add("B", &pendingFrame{body: []byte("late")})
	if q.Len() != 0 {
		t.Fatal("a closed queue took a new entry")
	}
}

func TestReasonOfEveryCode(t *testing.T) {
	for _, r := range presence.Reasons() {
		if got := reasonOf(codes[r]); got != string(r) {
			t.Errorf("reasonOf(%d) = %q, want %q", codes[r], got, r)
		}
	}
	for code, want := range map[int]string{40: "invalid_message", 41: "unknown_method", 45: "rate_limited", 77: "code_77"} {
		if got := reasonOf(code); got != want {
			t.Errorf("reasonOf(%d) = %q, want %q", code, got, want)
		}
	}
}
