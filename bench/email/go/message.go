// The message every threadlab email peer sends, byte for byte the same in
// Go, PHP and Python (bench/email/{go,php,python}), so that no model sends
// less than another.
//
// The message (headers and body, before dot-stuffing) is exactly --size
// bytes (at least 2, as for threadlab send) of CRLF lines:
//
//	From: <sender@threadlab.test>
//	To: <sink@threadlab.test>
//	Subject: threadlab email benchmark
//	(empty line)
//	body lines k = 0, 1, 2, ...
//
// The headers are left out when the size cannot hold them and a CRLF.
// Body line k is 76 characters (line 0: 1 character) and CRLF, the last
// one cut short so the total comes out exact; when cutting would leave a
// single byte (no room for a CRLF), the line before gives up one character.
// Character i of line k is '.' when i < dots(k) — dots is 1 when k%8 is 0
// or 3, 2 when k%8 is 6, else 0 — and otherwise 'a' + (k+i)%26. So line 0
// is a lone ".", the line that ends DATA unless it is dot-stuffed, and
// other lines start with "." and "..".
//
// Invariant: the message ends with CRLF, so the data terminator is just
// ".\r\n" after it.
package main

const (
	envelopeFrom = "sender@threadlab.test"
	envelopeTo   = "sink@threadlab.test"
	messageHead  = "From: <" + envelopeFrom + ">\r\n" +
		"To: <" + envelopeTo + ">\r\n" +
		"Subject: threadlab email benchmark\r\n" +
		"\r\n"
	minSize = 2
	maxSize = 64 << 20
)

func dots(k int) int {
	switch k % 8 {
	case 0, 3:
		return 1
	case 6:
		return 2
	}
	return 0
}

// buildMessage returns the message of exactly size bytes (minSize <= size
// <= maxSize), before dot-stuffing.
func buildMessage(size int) []byte {
	msg := make([]byte, 0, size)
	if size >= len(messageHead)+2 {
		msg = append(msg, messageHead...)
	}
	rem := size - len(msg)
	for k := 0; rem > 0; k++ {
		want := 78
		if k == 0 {
			want = 3
		}
		n := want
		if rem < n {
			n = rem
		}
		if rem-n == 1 {
			// Never leave one byte: it could not hold a CRLF.
			if n > 2 {
				n--
			} else {
				n++
			}
		}
		for i := 0; i < n-2; i++ {
			if i < dots(k) {
				msg = append(msg, '.')
			} else {
				msg = append(msg, byte('a'+(k+i)%26))
			}
		}
		msg = append(msg, '\r', '\n')
		rem -= n
	}
	return msg
}

// dotStuff returns what goes on the wire after DATA's 354: the message
// with a '.' added before every line that starts with '.' (RFC 5321
// 4.5.2), then the terminator ".\r\n". msg must end with CRLF.
func dotStuff(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/64+3)
	lineStart := true
	for _, c := range msg {
		if lineStart && c == '.' {
			out = append(out, '.')
		}
		out = append(out, c)
		lineStart = c == '\n'
	}
	return append(out, ".\r\n"...)
}
