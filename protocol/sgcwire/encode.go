package sgcwire

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// Encoder writes frames. The zero value writes plain values; with Base64 set
// every non-empty string value except "jsonrpc" is written as
// "sgc@b64:"+base64(UTF-8 bytes), as sgc's EncodeBase64 option does.
type Encoder struct {
	Base64 bool
}

// Append appends the frame for m to dst and returns the extended slice. Keys
// are written in the order sgc writes them for m.Method (spec §2.2); "id"
// comes last and only when m.ID is set. An acknowledgment is never encoded.
func (e Encoder) Append(dst []byte, m *Message) []byte {
	if m.Method == MethodAcknowledgment {
		return AppendAck(dst, m.ID)
	}
	dst = append(dst, `{"jsonrpc":"2.0","method":`...)
	dst = e.appendValue(dst, m.Method)
	switch m.Method {
	case MethodSession:
		dst = e.appendText(dst, m.Text)
	case MethodNewMember, MethodRemoveMember:
		dst = e.appendMember(dst, m.Member)
	case MethodNewChannelMember, MethodRemoveChannelMember, MethodUpdateChannelMember:
		dst = e.appendMember(dst, m.Member)
		dst = e.appendChannel(dst, m.Channel)
		if m.Counts {
			dst = append(dst, `,"counts":true`...)
		}
	case MethodUpdateMember:
		dst = e.appendMember(dst, m.Member)
	case MethodHello:
		dst = e.appendStrings(dst, "extensions", m.Extensions)
		if m.Token != "" {
			dst = append(dst, `,"token":`...)
			dst = e.appendValue(dst, m.Token)
		}
		if m.Resumed {
			dst = append(dst, `,"resumed":true`...)
		}
	case MethodResume:
		dst = append(dst, `,"token":`...)
		dst = e.appendValue(dst, m.Token)
	case MethodList:
		dst = e.appendChannel(dst, m.Channel)
		dst = appendUint(dst, "version", m.Version)
		dst = e.appendMembers(dst, m.Members)
		dst = append(dst, `,"more":`...)
		dst = strconv.AppendBool(dst, m.More)
	case MethodDiff:
		dst = e.appendChannel(dst, m.Channel)
		dst = appendUint(dst, "from", m.From)
		dst = appendUint(dst, "version", m.Version)
		dst = e.appendMemberArray(dst, "joined", m.Joined)
		dst = e.appendStrings(dst, "left", m.Left)
		dst = e.appendMemberArray(dst, "updated", m.Updated)
	case MethodCount:
		dst = e.appendChannel(dst, m.Channel)
		dst = appendUint(dst, "count", uint64(max(m.Count, 0)))
	case MethodPublishMsg:
		dst = e.appendText(dst, m.Text)
		dst = e.appendChannel(dst, m.Channel)
		dst = e.appendMember(dst, m.Member)
	case MethodGetMembers:
		dst = e.appendChannel(dst, m.Channel)
		dst = e.appendMember(dst, m.Member)
	case MethodSendMembers, MethodChannelInvitation:
		dst = e.appendChannel(dst, m.Channel)
		dst = e.appendMember(dst, m.Member)
		dst = e.appendMembers(dst, m.Members)
	case MethodInvitationResponse:
		dst = e.appendChannel(dst, m.Channel)
		dst = e.appendMember(dst, m.Member)
		dst = e.appendMembers(dst, m.Members)
		dst = e.appendError(dst, m.Error)
	case MethodErrorMemberChannel, MethodErrorPublishMsg:
		dst = e.appendError(dst, m.Error)
		if m.HasText {
			dst = e.appendText(dst, m.Text)
		}
		dst = e.appendChannel(dst, m.Channel)
		dst = e.appendMember(dst, m.Member)
	}
	if m.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = e.appendValue(dst, m.ID)
	}
	return append(dst, '}')
}

// Encode returns the frame for m in a new slice.
func (e Encoder) Encode(m *Message) []byte {
	return e.Append(make([]byte, 0, 128), m)
}

// WithID returns a copy of the encoded frame with an "id" key added last,
// byte-identical to encoding the message with that id. frame must come from
// Append with an empty ID. It lets one fan-out encoding serve every recipient
// when each needs its own acknowledgment id.
func (e Encoder) WithID(frame []byte, id string) []byte {
	out := make([]byte, 0, len(frame)+len(id)+len(b64Prefix)+24)
	return e.AppendIDTail(append(out, frame[:len(frame)-1]...), id)
}

// AppendIDTail appends what WithID puts in place of a frame's closing
// brace: the "id" key and the brace. A frame encoded once for many
// recipients (without its final byte) followed by each one's tail is that
// recipient's frame with its own id, with no copy of the shared part.
func (e Encoder) AppendIDTail(dst []byte, id string) []byte {
	dst = append(dst, `,"id":`...)
	dst = e.appendValue(dst, id)
	return append(dst, '}')
}

// AppendAck appends an acknowledgment frame for id. Acknowledgments are never
// base64-encoded.
func AppendAck(dst []byte, id string) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","method":"`+MethodAcknowledgment+`","id":`...)
	dst = appendString(dst, id)
	return append(dst, '}')
}

func (e Encoder) appendText(dst []byte, text string) []byte {
	dst = append(dst, `,"message":{"text":`...)
	dst = e.appendValue(dst, text)
	return append(dst, '}')
}

func (e Encoder) appendChannel(dst []byte, name string) []byte {
	dst = append(dst, `,"channel":{"name":`...)
	dst = e.appendValue(dst, name)
	return append(dst, '}')
}

func (e Encoder) appendMember(dst []byte, m Member) []byte {
	dst = append(dst, `,"member":`...)
	return e.appendMemberObject(dst, m)
}

func (e Encoder) appendMemberObject(dst []byte, m Member) []byte {
	dst = append(dst, `{"id":`...)
	dst = e.appendValue(dst, m.ID)
	dst = append(dst, `,"name":`...)
	dst = e.appendValue(dst, m.Name)
	dst = append(dst, `,"info":`...)
	dst = e.appendValue(dst, m.Info)
	return append(dst, '}')
}

func (e Encoder) appendMembers(dst []byte, ms []Member) []byte {
	return e.appendMemberArray(dst, "members", ms)
}

// appendMemberArray writes ,"key":[members]; key is a plain JSON name.
func (e Encoder) appendMemberArray(dst []byte, key string, ms []Member) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, key...)
	dst = append(dst, `":[`...)
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = e.appendMemberObject(dst, m)
	}
	return append(dst, ']')
}

// appendStrings writes ,"key":[values]; key is a plain JSON name.
func (e Encoder) appendStrings(dst []byte, key string, ss []string) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, key...)
	dst = append(dst, `":[`...)
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = e.appendValue(dst, s)
	}
	return append(dst, ']')
}

// appendUint writes ,"key":n; key is a plain JSON name.
func appendUint(dst []byte, key string, n uint64) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	return strconv.AppendUint(dst, n, 10)
}

func (e Encoder) appendError(dst []byte, er Error) []byte {
	dst = append(dst, `,"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(er.Code), 10)
	dst = append(dst, `,"text":`...)
	dst = e.appendValue(dst, er.Text)
	return append(dst, '}')
}

// appendValue writes s as a JSON string, base64-encoded when the encoder says
// so and s is non-empty and not already encoded.
func (e Encoder) appendValue(dst []byte, s string) []byte {
	if !e.Base64 || s == "" || hasPrefix(s) {
		return appendString(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, b64Prefix...)
	dst = base64.StdEncoding.AppendEncode(dst, []byte(s))
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// plain tells the bytes a JSON string holds as they are: printable ASCII but
// the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the frame is also safe JavaScript.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// The common case, a run of printable ASCII, in a tight loop.
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
