// The client side of one SMTP session, in lock-step: send a command, read
// its whole reply, check the code, go on. No pipelining, as in every other
// threadlab model, so each model does the same round trips.
//
// A connection belongs to the one goroutine that opened it; nothing here
// is shared.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"time"
)

// How long one message (or one connection set-up) may take before the
// server counts as stalled and the message as not accepted.
const messageTimeout = 30 * time.Second

var (
	cmdEHLO = []byte("EHLO client.threadlab.test\r\n")
	cmdMAIL = []byte("MAIL FROM:<" + envelopeFrom + ">\r\n")
	cmdRCPT = []byte("RCPT TO:<" + envelopeTo + ">\r\n")
	cmdDATA = []byte("DATA\r\n")
	cmdQUIT = []byte("QUIT\r\n")
)

type conn struct {
	c net.Conn
	r *bufio.Reader
}

// dial connects and reads the greeting and the EHLO reply.
func dial(server string) (*conn, error) {
	c, err := net.DialTimeout("tcp", server, messageTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &conn{c: c, r: bufio.NewReaderSize(c, 4096)}
	c.SetDeadline(time.Now().Add(messageTimeout))
	if err := s.expect("greeting", 220); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.command(cmdEHLO, "EHLO", 250); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// send delivers one message: nil only when the server answered 250 to the
// data terminator.
func (s *conn) send(wire []byte) error {
	s.c.SetDeadline(time.Now().Add(messageTimeout))
	if err := s.command(cmdMAIL, "MAIL FROM", 250); err != nil {
		return err
	}
	if err := s.command(cmdRCPT, "RCPT TO", 250); err != nil {
		return err
	}
	if err := s.command(cmdDATA, "DATA", 354); err != nil {
		return err
	}
	return s.command(wire, "end of data", 250)
}

// quit says goodbye and closes. The messages are already accepted, so an
// error here changes nothing and is not reported.
func (s *conn) quit() {
	s.c.SetDeadline(time.Now().Add(messageTimeout))
	s.command(cmdQUIT, "QUIT", 221)
	s.c.Close()
}

func (s *conn) command(line []byte, what string, want int) error {
	if _, err := s.c.Write(line); err != nil {
		return fmt.Errorf("%s: write: %w", what, err)
	}
	return s.expect(what, want)
}

// expect reads one reply, all its lines ("250-..." continues, "250 ..."
// ends), and checks its code.
func (s *conn) expect(what string, want int) error {
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("%s: reply line longer than %d bytes", what, s.r.Size())
			}
			return fmt.Errorf("%s: read: %w", what, err)
		}
		if len(line) < 5 || line[0] < '0' || line[0] > '9' ||
			line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
			(line[3] != ' ' && line[3] != '-' && line[3] != '\r') {
			return fmt.Errorf("%s: malformed reply %q", what, trimCRLF(line))
		}
		code := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if code != want {
			return fmt.Errorf("%s: %s", what, trimCRLF(line))
		}
		if line[3] != '-' {
			return nil
		}
	}
}

func trimCRLF(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
