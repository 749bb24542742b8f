package pusherwire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

func ExampleDecodeClientFrame() {
	const key, secret, socketID = "app-key", "app-secret", "1234.1234"
	channelData := `{"user_id":42,"user_info":{"name":"Bob"}}`
	auth := pusherwire.PresenceAuth(key, secret, socketID, "presence-room", channelData)
	frame, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "presence-room", "auth": auth, "channel_data": channelData}})

	cf, err := pusherwire.DecodeClientFrame(frame)
	if err != nil {
		var fe *pusherwire.FrameError
		errors.As(err, &fe)
		fmt.Printf("%s\n", pusherwire.AppendError(nil, fe.Code(), fe.Message()))
		return
	}
	sub := cf.Subscribe
	fmt.Println(cf.Type == pusherwire.TypeSubscribe, pusherwire.ClassifyChannel(sub.Channel).Kind)
	fmt.Println(pusherwire.VerifyChannelAuth(key, secret, socketID, sub))
	cd, _ := pusherwire.ParseChannelData(sub.ChannelData)
	fmt.Printf("%s\n", pusherwire.AppendMemberAdded(nil, sub.Channel, cd.UserID, cd.UserInfo))
	// Output:
	// true presence
	// <nil>
	// {"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"42\",\"user_info\":{\"name\":\"Bob\"}}"}
}

func ExampleDecodeClientFrame_error() {
	_, err := pusherwire.DecodeClientFrame([]byte(`{"event":"pusher:subscribe","data":{"channel":5}}`))
	var fe *pusherwire.FrameError
	if errors.As(err, &fe) {
		fmt.Printf("%s\n", pusherwire.AppendError(nil, fe.Code(), fe.Message()))
	}
	// Output:
	// {"event":"pusher:error","data":"{\"code\":4200,\"message\":\"Invalid message format: pusher:subscribe: data.channel is a number, want a string\"}"}
}

func ExampleRequestVerifier() {
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	at := time.Unix(1353088179, 0)
	q := pusherwire.SignRequest("278d425bdf160c739803", "7ad3773142a6692b25b8", "POST", "/apps/3/events", nil, body, at)
	fmt.Println(q.Get("auth_signature"))

	v := pusherwire.RequestVerifier{Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8",
		Now: func() time.Time { return at.Add(time.Hour) }}
	parsed, _ := url.ParseQuery(q.Encode())
	err := v.Verify("POST", "/apps/3/events", parsed, body)
	fmt.Println(errors.Is(err, pusherwire.ErrRequestExpired), err.(*pusherwire.RequestAuthError).Status())
	// Output:
	// da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c
	// true 401
}

func ExampleAppendWebhookBody() {
	body := pusherwire.AppendWebhookBody(nil, 1700000000000, []pusherwire.WebhookEvent{
		{Name: pusherwire.WebhookMemberAdded, Channel: "presence-room", UserID: "42"},
	})
	fmt.Printf("%s\n", body)
	fmt.Println(len(pusherwire.SignWebhook("app-secret", body)))
	// Output:
	// {"time_ms":1700000000000,"events":[{"name":"member_added","channel":"presence-room","user_id":"42"}]}
	// 64
}
