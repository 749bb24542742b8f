package pusherwire

import (
	"strconv"
	"unicode/utf8"
)

// The helpers below write JSON string content without reflection. Level one
// is an ordinary JSON string; level two is a string inside a JSON document
// that is itself the content of a JSON string (the "data" of a server frame):
// decoding twice gives the original text back.

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string, quotes included.
func appendQuoted[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s, false)
	return append(dst, '"')
}

// appendEscaped appends the content of a JSON string holding s: once escaped,
// or (double) escaped twice, for a string literal inside a double-encoded
// data string. Invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are escaped so
// the output is also valid JavaScript.
func appendEscaped[T ~string | ~[]byte](dst []byte, s T, double bool) []byte {
	// In a double-escaped string each escape's backslash is itself escaped,
	// and so is a quote or backslash that follows it.
	bs := `\`
	if double {
		bs = `\\\`
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, bs...)
				dst = append(dst, c)
			case '\n':
				dst = append(dst, bs[:len(bs)/2+1]...)
				dst = append(dst, 'n')
			case '\r':
				dst = append(dst, bs[:len(bs)/2+1]...)
				dst = append(dst, 'r')
			case '\t':
				dst = append(dst, bs[:len(bs)/2+1]...)
				dst = append(dst, 't')
			default:
				dst = append(dst, bs[:len(bs)/2+1]...)
				dst = append(dst, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		end := min(i+utf8.UTFMax, len(s))
		r, size := utf8.DecodeRuneInString(string(s[i:end]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, bs[:len(bs)/2+1]...)
			dst = append(dst, `ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, bs[:len(bs)/2+1]...)
			dst = append(dst, 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// appendInt appends a decimal integer.
func appendInt(dst []byte, n int64) []byte {
	return strconv.AppendInt(dst, n, 10)
}
