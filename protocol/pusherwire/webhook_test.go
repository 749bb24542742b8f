package pusherwire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestWebhookBody(t *testing.T) {
	events := []WebhookEvent{
		{Name: WebhookChannelOccupied, Channel: "c"},
		{Name: WebhookChannelVacated, Channel: "c"},
		{Name: WebhookMemberAdded, Channel: "presence-x", UserID: "42"},
		{Name: WebhookMemberRemoved, Channel: "presence-x", UserID: "42"},
		ClientEventWebhook("presence-x", "client-typing", json.RawMessage(`{"a":"<b>"}`), "1.2", "42"),
		ClientEventWebhook("private-x", "client-typing", json.RawMessage(`"plain"`), "1.2", ""),
		{Name: WebhookCacheMiss, Channel: "cache-x"},
		{Name: WebhookSubscriptionCount, Channel: "c", SubscriptionCount: 0},
	}
	body := AppendWebhookBody(nil, 1700000000123, events)
	want := `{"time_ms":1700000000123,"events":[` +
		`{"name":"channel_occupied","channel":"c"},` +
		`{"name":"channel_vacated","channel":"c"},` +
		`{"name":"member_added","channel":"presence-x","user_id":"42"},` +
		`{"name":"member_removed","channel":"presence-x","user_id":"42"},` +
		`{"name":"client_event","channel":"presence-x","event":"client-typing","data":"{\"a\":\"<b>\"}","socket_id":"1.2","user_id":"42"},` +
		`{"name":"client_event","channel":"private-x","event":"client-typing","data":"plain","socket_id":"1.2"},` +
		`{"name":"cache_miss","channel":"cache-x"},` +
		`{"name":"subscription_count","channel":"c","subscription_count":0}]}`
	if string(body) != want {
		t.Fatalf("got  %s\nwant %s", body, want)
	}
	got, err := DecodeWebhookBody(body)
	if err != nil {
		t.Fatal(err)
	}
	if got.TimeMS != 1700000000123 || !reflect.DeepEqual(got.Events, events) {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := DecodeWebhookBody([]byte(`{"time_ms":1} x`)); err == nil {
		t.Fatal("trailing garbage accepted")
	}
}

func TestWebhookSignature(t *testing.T) {
	body := AppendWebhookBody(nil, 1, []WebhookEvent{{Name: WebhookChannelOccupied, Channel: "c"}})
	sig := SignWebhook("secret", body)
	if len(sig) != 64 {
		t.Fatalf("signature %q", sig)
	}
	if sig != Sign("secret", string(body)) {
		t.Fatal("SignWebhook differs from Sign over the body")
	}
	if err := VerifyWebhook("key", "secret", "key", sig, body); err != nil {
		t.Fatal(err)
	}
	if err := VerifyWebhook("key", "secret", "other", sig, body); !errors.Is(err, ErrWebhookKey) {
		t.Fatalf("other key: %v", err)
	}
	if err := VerifyWebhook("key", "other", "key", sig, body); !errors.Is(err, ErrWebhookSignature) {
		t.Fatalf("other secret: %v", err)
	}
	changed := append([]byte(nil), body...)
	changed[len(changed)-3] = 'd'
	if err := VerifyWebhook("key", "secret", "key", sig, changed); !errors.Is(err, ErrWebhookSignature) {
		t.Fatalf("changed body: %v", err)
	}
}

func TestChannelSharedSecret(t *testing.T) {
	key := make([]byte, EncryptionMasterKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	got := ChannelSharedSecret("private-encrypted-x", key)
	want := sha256.Sum256(append([]byte("private-encrypted-x"), key...))
	if got != want {
		t.Fatalf("got %s", hex.EncodeToString(got[:]))
	}
}
