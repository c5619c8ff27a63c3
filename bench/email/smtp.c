/*
 * bench/email/smtp.c — the SMTP dialogue (RFC 5321) as state machines
 * that do no I/O: the server side, the client side, dot-stuffing and the
 * test message. smtp.h documents every call; this comment says how the
 * machines are built and why.
 *
 * Why no I/O: the same dialogue is driven by blocking threads (the clone
 * and pthread senders), by rt/ tasks on io_uring (the sink and the rt
 * sender), and by tests that feed byte strings, split at every byte
 * boundary, and garbage. A machine that read and wrote sockets itself
 * would need one copy per I/O model and could not be tested on bytes.
 *
 * The server
 * ----------
 * smtp_server_feed() takes whatever bytes arrived and walks them until
 * it has something for the caller: an event. In command mode bytes are
 * gathered into a line (s->line) until CRLF; the complete line is parsed
 * and answered, its reply appended to the caller's buffer. Pipelined
 * commands are answered one after another in the same buffer; the caller
 * sends the buffer when the input runs out (SMTP_EV_NONE), which is what
 * RFC 2920 asks of a server (flush when nothing more is buffered). A
 * line longer than SMTP_LINE_MAX is not stored: its octets are counted
 * until its CRLF, then answered "500 line too long", so the machine is in
 * step with the client again at the next line.
 *
 * In DATA mode the body is not gathered: runs of body octets are handed
 * to the caller as SMTP_EV_BODY, pointing into the caller's own input
 * (no copy), so a sink can stream a message of any size to a file as it
 * arrives. A per-line state (s->body) finds what matters at the start of
 * a line: a leading '.' is dropped (dot-stuffing), and a line that is
 * exactly ".\r\n" ends the message. Those are the only octets not passed
 * on; a "\r" after a leading dot is held back until the next octet shows
 * whether it ends the message, and is then passed on from a constant.
 *
 * A message exists only at SMTP_EV_MESSAGE, which is returned for the
 * terminating dot and for nothing else. A connection that ends before it
 * (smtp_server_eof) or a body that breaks a limit (SMTP_EV_ABORT) yields
 * no message, ever: the sink writes body octets to a temporary file and
 * renames it into place only when SMTP_EV_MESSAGE arrives, and the 250
 * is written only by smtp_server_commit(), after the sink has committed.
 * That order is what makes "nothing acknowledged is lost" hold.
 *
 * Reply codes, with RFC 3463 enhanced codes (always sent, as postfix
 * does): 220 greeting, 221 QUIT, 250 success, 354 start of body, 421
 * limits (smtp_server_shutdown), 451/452 commit failed, 452 too many
 * recipients, 500 unknown command or line too long, 501 bad arguments,
 * 502 known but not implemented, 503 bad sequence, 552 message too big,
 * 555 unsupported MAIL/RCPT parameter. Lines end at CRLF only: a bare LF
 * is an ordinary octet, as RFC 5321 2.3.8 asks.
 *
 * The client
 * ----------
 * A lock-step client (no pipelining): one command, one reply. The caller
 * asks what to send (smtp_client_output gives iovecs: a command from
 * c->cmd, or the caller's own stuffed body, never copied), says how much
 * went out (smtp_client_sent), and feeds the replies it reads
 * (smtp_client_feed), which may be multi-line ("250-...") and split
 * anywhere. A transaction refused at MAIL, RCPT or DATA is counted in
 * c->rejected and undone with RSET; one refused at the dot is over by
 * itself. A message counts as accepted only on the 250 after the dot. It
 * does not pipeline and sends no SIZE= even when the server announces
 * them, because the Go, PHP and Python senders do neither: every model
 * must make the same round trips with the same bytes.
 *
 * The message
 * -----------
 * smtp_message_generate builds the benchmark message by the rule of
 * bench/email/go/message.go, octet for octet (checked against the Go code
 * for every size from 2 to 700 and a few up to 1 MiB when this was
 * written), with lines that need dot-stuffing from its first body line on.
 *
 * Shared state: none; see smtp.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench/email/smtp.h"
#include "syscalls/sys.h"

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive: does [s, s+len) start with the word w? */
static bool has_prefix(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != lower(w[i]))
			return false;
	return true;
}

static size_t out_free(const struct smtp_buf *out)
{
	return out->cap - out->len;
}

__attribute__((format(printf, 2, 3)))
static void reply(struct smtp_buf *out, const char *fmt, ...)
{
	size_t room = out_free(out);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out->data + out->len, room, fmt, ap);
	va_end(ap);
	/* Every reply is far shorter than SMTP_REPLY_MAX, and callers check
	 * that much room first; running out is a bug here, not input. */
	if (n < 0 || (size_t)n >= room)
		sys_panic("smtp: reply does not fit its buffer (%zu free)", room);
	out->len += (size_t)n;
}

/* ---------------------------------------------------------------------
 * Server: commands
 * ------------------------------------------------------------------- */

/* Where a body line is (s->body). */
enum {
	B_BOL,       /* at the start of a line */
	B_DOT,       /* a '.' started the line (dropped for now) */
	B_DOTCR,     /* ".\r" started the line: the end, if '\n' follows */
	B_MID,       /* inside a line */
	B_CR,        /* the last octet passed on was '\r' */
};

void smtp_server_init(struct smtp_server *s,
		      const struct smtp_server_config *cfg)
{
	const char *host = cfg && cfg->hostname ? cfg->hostname : "threadlab";

	memset(s, 0, sizeof(*s));
	if (strlen(host) >= sizeof(s->hostname))
		sys_panic("smtp_server_init: hostname longer than %zu octets",
			  sizeof(s->hostname) - 1);
	strcpy(s->hostname, host);
	s->max_message = cfg ? cfg->max_message : 0;
	s->max_rcpts = cfg && cfg->max_rcpts ? cfg->max_rcpts
					      : SMTP_RCPTS_DEFAULT;
	s->state = SMTP_S_INIT;
}

void smtp_server_greet(struct smtp_server *s, struct smtp_buf *out)
{
	reply(out, "220 %s ESMTP threadlab\r\n", s->hostname);
}

static void reset_transaction(struct smtp_server *s)
{
	s->mail_from[0] = '\0';
	s->rcpts = 0;
	s->msg_size = 0;
	s->body_error = 0;
	if (s->state != SMTP_S_INIT && s->state != SMTP_S_CLOSED)
		s->state = SMTP_S_READY;
}

/* Skip spaces. */
static size_t skip_sp(const char *p, size_t len, size_t i)
{
	while (i < len && p[i] == ' ')
		i++;
	return i;
}

/*
 * Parse "<path>" at p[*i..len) into buf (without the brackets). Accepts
 * printable ASCII except '<' and '>' and spaces inside (no quoted
 * local parts with spaces; SMTPUTF8 is not announced). 0 or -EINVAL.
 */
static int parse_path(const char *p, size_t len, size_t *i, char *buf)
{
	size_t j = *i, n = 0;

	if (j >= len || p[j] != '<')
		return -EINVAL;
	for (j++; j < len && p[j] != '>'; j++) {
		unsigned char c = (unsigned char)p[j];

		if (c <= ' ' || c >= 127 || c == '<')
			return -EINVAL;
		/* 256 octets with the brackets. */
		if (n + 2 >= SMTP_PATH_MAX)
			return -EINVAL;
		buf[n++] = (char)c;
	}
	if (j >= len)
		return -EINVAL;
	buf[n] = '\0';
	*i = j + 1;
	return 0;
}

/* A decimal number of up to 19 digits, the whole of [p, p+len). */
static bool parse_u64(const char *p, size_t len, uint64_t *v)
{
	if (len == 0 || len > 19)
		return false;
	*v = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(p[i] - '0');
	}
	return true;
}

/*
 * MAIL's ESMTP parameters, at p[i..len): " KEY[=VALUE]" each. SIZE and
 * BODY are known (after EHLO only). 0, or the reply code written.
 */
static int mail_params(struct smtp_server *s, const char *p, size_t len,
		       size_t i, struct smtp_buf *out)
{
	while ((i = skip_sp(p, len, i)) < len) {
		size_t start = i, eq = 0, klen, vlen;
		const char *v;
		uint64_t size;

		while (i < len && p[i] != ' ') {
			if (p[i] == '=' && !eq)
				eq = i;
			i++;
		}
		klen = (eq ? eq : i) - start;
		v = eq ? p + eq + 1 : p + i;
		vlen = eq ? i - eq - 1 : 0;
		if (s->esmtp && klen == 4 && has_prefix(p + start, klen, "SIZE")) {
			if (!eq || !parse_u64(v, vlen, &size)) {
				reply(out, "501 5.5.4 Bad SIZE parameter\r\n");
				return 501;
			}
			if (s->max_message && size > s->max_message) {
				reply(out, "552 5.3.4 Message size exceeds fixed limit\r\n");
				return 552;
			}
			continue;
		}
		if (s->esmtp && klen == 4 && has_prefix(p + start, klen, "BODY")) {
			if (eq && ((vlen == 4 && has_prefix(v, vlen, "7BIT")) ||
				   (vlen == 8 && has_prefix(v, vlen, "8BITMIME"))))
				continue;
			reply(out, "501 5.5.4 Bad BODY parameter\r\n");
			return 501;
		}
		reply(out, "555 5.5.4 Unsupported option: %.*s\r\n",
		      (int)(klen < 64 ? klen : 64), p + start);
		return 555;
	}
	return 0;
}

static void cmd_helo(struct smtp_server *s, const char *arg, size_t alen,
		     bool ehlo, struct smtp_buf *out)
{
	if (alen == 0) {
		reply(out, "501 5.5.4 Syntax: %s hostname\r\n",
		      ehlo ? "EHLO" : "HELO");
		return;
	}
	/* RFC 5321 4.1.4: HELO/EHLO again is an implicit RSET. */
	s->state = SMTP_S_READY;
	reset_transaction(s);
	s->esmtp = ehlo;
	if (!ehlo) {
		reply(out, "250 %s\r\n", s->hostname);
		return;
	}
	reply(out, "250-%s\r\n250-PIPELINING\r\n", s->hostname);
	if (s->max_message)
		reply(out, "250-SIZE %llu\r\n",
		      (unsigned long long)s->max_message);
	else
		reply(out, "250-SIZE\r\n");
	reply(out, "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
}

static void cmd_mail(struct smtp_server *s, const char *p, size_t len,
		     struct smtp_buf *out)
{
	size_t i = 4;
	char path[SMTP_PATH_MAX];

	if (s->state == SMTP_S_INIT) {
		reply(out, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		return;
	}
	if (s->state != SMTP_S_READY) {
		reply(out, "503 5.5.1 Error: nested MAIL command\r\n");
		return;
	}
	/* "MAIL FROM:" — a space after the colon is tolerated, as by
	 * postfix and most servers. */
	i = skip_sp(p, len, i);
	if (!has_prefix(p + i, len - i, "FROM:")) {
		reply(out, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		return;
	}
	i = skip_sp(p, len, i + 5);
	if (parse_path(p, len, &i, path) < 0) {
		reply(out, "501 5.1.7 Bad sender address syntax\r\n");
		return;
	}
	if (i < len && p[i] != ' ') {
		reply(out, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		return;
	}
	if (mail_params(s, p, len, i, out))
		return;
	strcpy(s->mail_from, path);
	s->rcpts = 0;
	s->msg_size = 0;
	s->state = SMTP_S_MAIL;
	reply(out, "250 2.1.0 Ok\r\n");
}

static void cmd_rcpt(struct smtp_server *s, const char *p, size_t len,
		     struct smtp_buf *out)
{
	size_t i = 4;
	char path[SMTP_PATH_MAX];

	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT) {
		reply(out, "503 5.5.1 Error: need MAIL command\r\n");
		return;
	}
	i = skip_sp(p, len, i);
	if (!has_prefix(p + i, len - i, "TO:")) {
		reply(out, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		return;
	}
	i = skip_sp(p, len, i + 3);
	if (parse_path(p, len, &i, path) < 0 || path[0] == '\0') {
		reply(out, "501 5.1.3 Bad recipient address syntax\r\n");
		return;
	}
	i = skip_sp(p, len, i);
	if (i < len) {
		reply(out, "555 5.5.4 Unsupported option: %.*s\r\n",
		      (int)(len - i < 64 ? len - i : 64), p + i);
		return;
	}
	if (s->rcpts >= s->max_rcpts) {
		reply(out, "452 4.5.3 Error: too many recipients\r\n");
		return;
	}
	s->rcpts++;
	s->state = SMTP_S_RCPT;
	reply(out, "250 2.1.5 Ok\r\n");
}

/* A verb that takes no argument: 501 when one is given. */
static bool no_arg(const char *verb, size_t alen, struct smtp_buf *out)
{
	if (alen == 0)
		return true;
	reply(out, "501 5.5.4 Syntax: %s\r\n", verb);
	return false;
}

/* Answer one complete command line (without its CRLF). Returns the event
 * it makes: DATA, CLOSE or NONE. */
static enum smtp_event command(struct smtp_server *s, const char *p,
			       size_t len, struct smtp_buf *out)
{
	static const char *const unimplemented[] = {
		"VRFY", "EXPN", "HELP", "TURN", "ETRN", "AUTH", "STARTTLS",
		"BDAT",
	};
	size_t vlen = 0, a;
	const char *arg;
	size_t alen;

	while (vlen < len && p[vlen] != ' ')
		vlen++;
	a = skip_sp(p, len, vlen);
	arg = p + a;
	alen = len - a;
	while (alen > 0 && arg[alen - 1] == ' ')
		alen--;

#define IS(w) (vlen == strlen(w) && has_prefix(p, vlen, w))
	if (IS("EHLO") || IS("HELO")) {
		cmd_helo(s, arg, alen, IS("EHLO"), out);
	} else if (IS("MAIL")) {
		cmd_mail(s, p, len, out);
	} else if (IS("RCPT")) {
		cmd_rcpt(s, p, len, out);
	} else if (IS("DATA")) {
		if (!no_arg("DATA", alen, out))
			return SMTP_EV_NONE;
		if (s->state == SMTP_S_INIT || s->state == SMTP_S_READY) {
			reply(out, "503 5.5.1 Error: need MAIL command\r\n");
		} else if (s->state == SMTP_S_MAIL) {
			reply(out, "503 5.5.1 Error: need RCPT command\r\n");
		} else {
			s->state = SMTP_S_DATA;
			s->body = B_BOL;
			s->body_line = 0;
			s->msg_size = 0;
			s->body_error = 0;
			reply(out, "354 End data with <CR><LF>.<CR><LF>\r\n");
			return SMTP_EV_DATA;
		}
	} else if (IS("RSET")) {
		if (no_arg("RSET", alen, out)) {
			reset_transaction(s);
			reply(out, "250 2.0.0 Ok\r\n");
		}
	} else if (IS("NOOP")) {
		/* 4.1.1.9: a parameter may be given and is ignored. */
		reply(out, "250 2.0.0 Ok\r\n");
	} else if (IS("QUIT")) {
		if (no_arg("QUIT", alen, out)) {
			reset_transaction(s);
			s->state = SMTP_S_CLOSED;
			reply(out, "221 2.0.0 Bye\r\n");
			return SMTP_EV_CLOSE;
		}
	} else {
		for (size_t i = 0; i < sizeof(unimplemented) /
				       sizeof(unimplemented[0]); i++) {
			if (IS(unimplemented[i])) {
				reply(out, "502 5.5.1 Error: command not implemented\r\n");
				return SMTP_EV_NONE;
			}
		}
		reply(out, "500 5.5.2 Error: command not recognized\r\n");
	}
#undef IS
	return SMTP_EV_NONE;
}

/*
 * Command mode: gather octets from in[*i..len) into s->line until a
 * CRLF, then answer the line. Returns FLUSH (nothing consumed) when a
 * line would end here and out lacks room for its reply.
 */
static enum smtp_event command_step(struct smtp_server *s, const char *in,
				    size_t len, size_t *i,
				    struct smtp_buf *out)
{
	const char *p = in + *i;
	size_t n = len - *i, off = 0, take;
	const char *nl;
	uint64_t total;
	bool end = false;

	/* Find the first LF that follows a CR (a bare LF is an octet). */
	while ((nl = memchr(p + off, '\n', n - off)) != NULL) {
		bool cr = nl > p ? nl[-1] == '\r' : s->line_cr;

		off = (size_t)(nl - p) + 1;
		if (cr) {
			end = true;
			break;
		}
	}
	take = end ? off : n;
	if (end && out_free(out) < SMTP_REPLY_MAX)
		return SMTP_EV_FLUSH;

	if (s->line_len < SMTP_LINE_MAX) {
		size_t room = SMTP_LINE_MAX - (size_t)s->line_len;

		memcpy(s->line + s->line_len, p, take < room ? take : room);
	}
	s->line_len += take;
	s->line_cr = take > 0 && p[take - 1] == '\r';
	*i += take;
	if (!end)
		return SMTP_EV_NONE;

	/* A whole line, CRLF included: s->line_len octets. */
	total = s->line_len;
	s->line_len = 0;
	s->line_cr = false;
	if (total > SMTP_LINE_MAX) {
		reply(out, "500 5.5.2 Error: line too long\r\n");
		return SMTP_EV_NONE;
	}
	return command(s, s->line, (size_t)total - 2, out);
}

/* ---------------------------------------------------------------------
 * Server: the body
 * ------------------------------------------------------------------- */

/* Stop passing the body on; answer its dot with the error later. */
static enum smtp_event abort_body(struct smtp_server *s, int why)
{
	s->body_error = why;
	return SMTP_EV_ABORT;
}

/* The terminating dot's '\n' is at in[*i]. */
static enum smtp_event end_of_body(struct smtp_server *s, size_t *i,
				   struct smtp_buf *out)
{
	if (out_free(out) < SMTP_REPLY_MAX)
		return SMTP_EV_FLUSH;
	(*i)++;
	s->body = B_BOL;
	s->body_line = 0;
	switch (s->body_error) {
	case 0:
		s->state = SMTP_S_COMMIT;
		return SMTP_EV_MESSAGE;
	case 552:
		reply(out, "552 5.3.4 Message size exceeds fixed limit\r\n");
		break;
	default:
		reply(out, "500 5.5.2 Error: line too long\r\n");
		break;
	}
	reset_transaction(s);
	return SMTP_EV_NONE;
}

/*
 * DATA mode: walk in[*i..len), passing runs of body octets on as
 * SMTP_EV_BODY. A run ends where an octet must not be passed on (a
 * leading dot) or the input ends. The walk stops at an event; the octet
 * that caused it is consumed only if the event says it was handled.
 */
static enum smtp_event body_step(struct smtp_server *s, const char *in,
				 size_t len, size_t *i, struct smtp_buf *out)
{
	size_t start = *i, j = *i;

	while (j < len) {
		char c = in[j];

		switch (s->body) {
		case B_BOL:
			if (c == '.') {
				if (j > start)
					goto emit;      /* pass the run first */
				s->body = B_DOT;
				s->body_line = 1;
				start = ++j;
				continue;
			}
			s->body = c == '\r' ? B_CR : B_MID;
			s->body_line = 1;
			j++;
			break;
		case B_DOT:
			if (c == '\r') {
				s->body = B_DOTCR;
				s->body_line++;
				start = ++j;
				continue;
			}
			/* The dot was stuffing; c is the line's first octet. */
			s->body = B_MID;
			s->body_line++;
			j++;
			break;
		case B_DOTCR:
			if (c == '\n') {
				*i = j;
				return end_of_body(s, i, out);
			}
			/* Not the end: the held "\r" is body, passed on from
			 * a constant because the input that held it is gone. */
			s->body = B_CR;
			*i = j;
			if (s->body_error)
				return SMTP_EV_NONE;
			s->data = "\r";
			s->data_len = 1;
			goto account;
		case B_MID: {
			/* The common case: skip to the next CR at once. */
			const char *cr = memchr(in + j, '\r', len - j);
			size_t k = cr ? (size_t)(cr - in) : len;

			s->body_line += k - j;
			j = k;
			if (cr) {
				s->body = B_CR;
				s->body_line++;
				j++;
			}
			break;
		}
		case B_CR:
			s->body_line++;
			j++;
			if (c == '\n') {
				if (s->body_line > SMTP_LINE_MAX &&
				    !s->body_error) {
					*i = j;
					return abort_body(s, 500);
				}
				s->body = B_BOL;
				s->body_line = 0;
			} else if (c != '\r') {
				s->body = B_MID;
			}
			break;
		}
		/* A line that has passed the limit will be too long
		 * whatever follows: abort now, not at its end. */
		if (s->body_line > SMTP_LINE_MAX && !s->body_error) {
			*i = j;
			return abort_body(s, 500);
		}
	}
emit:
	*i = j;
	if (j == start || s->body_error)
		return SMTP_EV_NONE;
	s->data = in + start;
	s->data_len = j - start;
account:
	if (s->max_message && s->msg_size + s->data_len > s->max_message)
		return abort_body(s, 552);
	s->msg_size += s->data_len;
	return SMTP_EV_BODY;
}

enum smtp_event smtp_server_feed(struct smtp_server *s, const char *in,
				 size_t len, size_t *used,
				 struct smtp_buf *out)
{
	enum smtp_event ev = SMTP_EV_NONE;
	size_t i = 0;

	if (out->cap < SMTP_REPLY_MAX)
		sys_panic("smtp_server_feed: output buffer of %zu octets, "
			  "need at least %d", out->cap, SMTP_REPLY_MAX);
	if (s->state == SMTP_S_COMMIT)
		sys_panic("smtp_server_feed: called before smtp_server_commit "
			  "answered the last message");
	while (ev == SMTP_EV_NONE && i < len) {
		if (s->state == SMTP_S_CLOSED)
			break;
		if (s->state == SMTP_S_DATA)
			ev = body_step(s, in, len, &i, out);
		else
			ev = command_step(s, in, len, &i, out);
	}
	if (s->state == SMTP_S_CLOSED)
		ev = SMTP_EV_CLOSE;
	*used = i;
	return ev;
}

void smtp_server_commit(struct smtp_server *s, int result,
			struct smtp_buf *out)
{
	if (s->state != SMTP_S_COMMIT)
		sys_panic("smtp_server_commit: no message waits for it");
	if (result == 0)
		reply(out, "250 2.0.0 Ok: queued\r\n");
	else if (result == -ENOSPC || result == -EDQUOT)
		reply(out, "452 4.3.1 Insufficient system storage\r\n");
	else if (result == -EFBIG)
		reply(out, "552 5.3.4 Message size exceeds fixed limit\r\n");
	else
		reply(out, "451 4.3.0 Error: local error in processing\r\n");
	s->state = SMTP_S_READY;
	reset_transaction(s);
}

bool smtp_server_message_open(const struct smtp_server *s)
{
	return s->state == SMTP_S_DATA && !s->body_error;
}

void smtp_server_eof(struct smtp_server *s)
{
	reset_transaction(s);
	s->state = SMTP_S_CLOSED;
}

void smtp_server_shutdown(struct smtp_server *s, enum smtp_limit why,
			  struct smtp_buf *out)
{
	switch (why) {
	case SMTP_LIMIT_CONNECTIONS:
		reply(out, "421 4.7.0 %s Error: too many connections\r\n",
		      s->hostname);
		break;
	case SMTP_LIMIT_IDLE:
		reply(out, "421 4.4.2 %s Error: timeout exceeded\r\n",
		      s->hostname);
		break;
	default:
		reply(out, "421 4.3.2 %s Service shutting down\r\n",
		      s->hostname);
		break;
	}
	smtp_server_eof(s);
}

/* ---------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------- */

static void copy_name(char *dst, size_t cap, const char *src,
		      const char *what)
{
	if (strlen(src) >= cap)
		sys_panic("smtp_client_init: %s longer than %zu octets", what,
			  cap - 1);
	strcpy(dst, src);
}

void smtp_client_init(struct smtp_client *c,
		      const struct smtp_client_config *cfg)
{
	memset(c, 0, sizeof(*c));
	copy_name(c->helo, sizeof(c->helo),
		  cfg->helo ? cfg->helo : "threadlab", "helo name");
	/* The brackets count towards SMTP_PATH_MAX. */
	copy_name(c->from, SMTP_PATH_MAX - 1, cfg->from ? cfg->from : "",
		  "from path");
	copy_name(c->to, SMTP_PATH_MAX - 1, cfg->to ? cfg->to : "",
		  "to path");
	c->state = SMTP_C_RECV;
	c->waiting = SMTP_CMD_GREETING;
}

__attribute__((format(printf, 3, 4)))
static void send_cmd(struct smtp_client *c, enum smtp_client_cmd cmd,
		     const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->cmd, sizeof(c->cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(c->cmd))
		sys_panic("smtp client: command longer than a line");
	c->cmd_len = (size_t)n;
	c->cmd_sent = 0;
	c->waiting = cmd;
	c->state = SMTP_C_SEND;
}

__attribute__((format(printf, 2, 3)))
static void note_error(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

static void fail(struct smtp_client *c)
{
	/* A transaction in flight is lost with the session. */
	if (c->waiting >= SMTP_CMD_MAIL && c->waiting <= SMTP_CMD_DOT &&
	    !c->failed_txn)
		c->rejected++;
	c->state = SMTP_C_FAILED;
}

void smtp_client_mail(struct smtp_client *c, const char *wire,
		      size_t wire_len, size_t size)
{
	if (c->state != SMTP_C_READY)
		sys_panic("smtp_client_mail: the session is not between "
			  "transactions (state %d)", c->state);
	c->msg = wire;
	c->msg_len = wire_len;
	c->msg_sent = 0;
	c->msg_size = size;
	c->failed_txn = false;
	/* No SIZE= even when the server announces SIZE: the Go, PHP and
	 * Python peers send a plain MAIL, and every model must send the
	 * same bytes. A message over the limit is refused at the dot. */
	send_cmd(c, SMTP_CMD_MAIL, "MAIL FROM:<%s>\r\n", c->from);
}

void smtp_client_quit(struct smtp_client *c)
{
	if (c->state != SMTP_C_READY)
		sys_panic("smtp_client_quit: the session is not between "
			  "transactions (state %d)", c->state);
	send_cmd(c, SMTP_CMD_QUIT, "QUIT\r\n");
}

int smtp_client_output(const struct smtp_client *c, struct iovec iov[2])
{
	if (c->state != SMTP_C_SEND)
		return 0;
	if (c->waiting == SMTP_CMD_DOT) {
		iov[0].iov_base = (void *)(c->msg + c->msg_sent);
		iov[0].iov_len = c->msg_len - c->msg_sent;
	} else {
		iov[0].iov_base = (void *)(c->cmd + c->cmd_sent);
		iov[0].iov_len = c->cmd_len - c->cmd_sent;
	}
	return 1;
}

void smtp_client_sent(struct smtp_client *c, size_t n)
{
	size_t *sent = c->waiting == SMTP_CMD_DOT ? &c->msg_sent : &c->cmd_sent;
	size_t total = c->waiting == SMTP_CMD_DOT ? c->msg_len : c->cmd_len;

	if (c->state != SMTP_C_SEND || n > total - *sent)
		sys_panic("smtp_client_sent: %zu octets sent, %zu were to go",
			  n, c->state == SMTP_C_SEND ? total - *sent : 0);
	*sent += n;
	if (*sent == total)
		c->state = SMTP_C_RECV;
}

static const char *cmd_name(enum smtp_client_cmd cmd)
{
	static const char *const names[] = {
		[SMTP_CMD_GREETING] = "greeting", [SMTP_CMD_EHLO] = "EHLO",
		[SMTP_CMD_HELO] = "HELO", [SMTP_CMD_MAIL] = "MAIL",
		[SMTP_CMD_RCPT] = "RCPT", [SMTP_CMD_DATA] = "DATA",
		[SMTP_CMD_DOT] = "end of data", [SMTP_CMD_RSET] = "RSET",
		[SMTP_CMD_QUIT] = "QUIT",
	};

	return names[cmd];
}

/* An EHLO reply line's keyword (after "250-" or "250 "). */
static void ehlo_keyword(struct smtp_client *c, const char *t, size_t len)
{
	uint64_t v;

	if (len >= 10 && has_prefix(t, len, "PIPELINING") &&
	    (len == 10 || t[10] == ' '))
		c->ext_pipelining = true;
	if (len >= 4 && has_prefix(t, len, "SIZE") && (len == 4 || t[4] == ' ')) {
		c->ext_size = true;
		c->ext_size_max = 0;
		if (len > 5 && parse_u64(t + 5, len - 5, &v))
			c->ext_size_max = v;
	}
}

/* A refused step of a transaction: count it once and undo it. */
static void refuse(struct smtp_client *c)
{
	if (!c->failed_txn)
		c->rejected++;
	c->failed_txn = true;
	send_cmd(c, SMTP_CMD_RSET, "RSET\r\n");
}

/* A complete reply with code `code`, whose last line's text is `t`. */
static void on_reply(struct smtp_client *c, int code, const char *t,
		     size_t tlen)
{
	enum smtp_client_cmd was = c->waiting;

	c->last_code = code;
	if (code == 421) {
		/* The server is closing the session, whatever we asked. */
		note_error(c, "%s: %d %.*s", cmd_name(was), code, (int)tlen, t);
		fail(c);
		return;
	}
	switch (was) {
	case SMTP_CMD_GREETING:
		if (code == 220) {
			send_cmd(c, SMTP_CMD_EHLO, "EHLO %s\r\n", c->helo);
			return;
		}
		break;
	case SMTP_CMD_EHLO:
		if (code == 250) {
			c->state = SMTP_C_READY;
			return;
		}
		/* RFC 5321 3.2: a server that does not know EHLO says 5xx;
		 * fall back to HELO. */
		if (code >= 500 && code <= 504) {
			send_cmd(c, SMTP_CMD_HELO, "HELO %s\r\n", c->helo);
			return;
		}
		break;
	case SMTP_CMD_HELO:
		if (code == 250) {
			c->state = SMTP_C_READY;
			return;
		}
		break;
	case SMTP_CMD_MAIL:
		if (code == 250) {
			send_cmd(c, SMTP_CMD_RCPT, "RCPT TO:<%s>\r\n", c->to);
			return;
		}
		break;
	case SMTP_CMD_RCPT:
		if (code == 250 || code == 251) {
			send_cmd(c, SMTP_CMD_DATA, "DATA\r\n");
			return;
		}
		break;
	case SMTP_CMD_DATA:
		if (code == 354) {
			c->waiting = SMTP_CMD_DOT;
			c->state = SMTP_C_SEND;
			return;
		}
		break;
	case SMTP_CMD_DOT:
		/* The transaction is over either way: no RSET needed. */
		if (code == 250)
			c->accepted++;
		else
			c->rejected++;
		if (code != 250)
			note_error(c, "%s: %d %.*s", cmd_name(was), code,
				   (int)tlen, t);
		c->state = SMTP_C_READY;
		return;
	case SMTP_CMD_RSET:
		if (code == 250) {
			c->state = SMTP_C_READY;
			return;
		}
		break;
	case SMTP_CMD_QUIT:
		if (code == 221) {
			c->state = SMTP_C_DONE;
			return;
		}
		break;
	}
	note_error(c, "%s: %d %.*s", cmd_name(was), code, (int)tlen, t);
	if (was >= SMTP_CMD_MAIL && was <= SMTP_CMD_DATA && code >= 400) {
		refuse(c);
		return;
	}
	fail(c);
}

/* One reply line (without its line end). 0 or -EPROTO. */
static int reply_line(struct smtp_client *c, const char *l, size_t len)
{
	int code;
	bool last;

	if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
	    l[2] < '0' || l[2] > '9' || (len > 3 && l[3] != ' ' && l[3] != '-')) {
		note_error(c, "%s: malformed reply line '%.*s'",
			   cmd_name(c->waiting), (int)(len < 80 ? len : 80), l);
		return -EPROTO;
	}
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (c->reply_code && code != c->reply_code) {
		note_error(c, "%s: reply continued with code %d after %d",
			   cmd_name(c->waiting), code, c->reply_code);
		return -EPROTO;
	}
	last = len == 3 || l[3] == ' ';
	/* EHLO's extensions are on the lines after the first. */
	if (c->waiting == SMTP_CMD_EHLO && code == 250 && c->reply_code &&
	    len > 4)
		ehlo_keyword(c, l + 4, len - 4);
	if (!last) {
		c->reply_code = code;
		return 0;
	}
	c->reply_code = 0;
	on_reply(c, code, len > 4 ? l + 4 : "", len > 4 ? len - 4 : 0);
	return 0;
}

int smtp_client_feed(struct smtp_client *c, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t l;

		if (c->state == SMTP_C_FAILED || c->state == SMTP_C_DONE)
			return 0;       /* the session is over; ignore the rest */
		if (c->state != SMTP_C_RECV) {
			/* Nothing was asked: a server that talks now is out
			 * of step with a lock-step client. */
			note_error(c, "%s: unexpected bytes from the server",
				   cmd_name(c->waiting));
			fail(c);
			return -EPROTO;
		}
		if (in[i] != '\n') {
			if (c->reply_len >= sizeof(c->reply)) {
				note_error(c, "%s: reply line longer than %d "
					   "octets", cmd_name(c->waiting),
					   SMTP_LINE_MAX);
				fail(c);
				return -EPROTO;
			}
			c->reply[c->reply_len++] = in[i];
			continue;
		}
		/* Servers must end lines with CRLF; a bare LF is taken as a
		 * line end too (be liberal in what you accept). */
		l = c->reply_len;
		if (l > 0 && c->reply[l - 1] == '\r')
			l--;
		c->reply_len = 0;
		if (reply_line(c, c->reply, l) < 0) {
			fail(c);
			return -EPROTO;
		}
	}
	return 0;
}

void smtp_client_eof(struct smtp_client *c)
{
	if (c->state == SMTP_C_DONE || c->state == SMTP_C_FAILED)
		return;
	note_error(c, "%s: connection closed by the server",
		   cmd_name(c->waiting));
	fail(c);
}

/* ---------------------------------------------------------------------
 * Message bodies
 * ------------------------------------------------------------------- */

size_t smtp_stuffed_size(const char *body, size_t len)
{
	size_t n = len + 3;              /* ".\r\n" */
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (bol && body[i] == '.')
			n++;
		bol = body[i] == '\n' && i > 0 && body[i - 1] == '\r';
	}
	if (len > 0 && !(len >= 2 && body[len - 2] == '\r' &&
			 body[len - 1] == '\n'))
		n += 2;
	return n;
}

size_t smtp_stuff(const char *body, size_t len, char *out)
{
	size_t n = 0;
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (bol && body[i] == '.')
			out[n++] = '.';
		out[n++] = body[i];
		bol = body[i] == '\n' && i > 0 && body[i - 1] == '\r';
	}
	if (len > 0 && !(len >= 2 && body[len - 2] == '\r' &&
			 body[len - 1] == '\n')) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	memcpy(out + n, ".\r\n", 3);
	return n + 3;
}

/* How many dots start body line k of the generated message. */
static int gen_dots(size_t k)
{
	switch (k % 8) {
	case 0:
	case 3:
		return 1;
	case 6:
		return 2;
	default:
		return 0;
	}
}

/*
 * The rule is bench/email/go/message.go's buildMessage, octet for octet,
 * so that the C, Go, PHP and Python senders all send the same message.
 */
void smtp_message_generate(char *buf, size_t size)
{
	static const char head[] =
		"From: <" SMTP_MESSAGE_FROM ">\r\n"
		"To: <" SMTP_MESSAGE_TO ">\r\n"
		"Subject: threadlab email benchmark\r\n"
		"\r\n";
	size_t n = 0, k;

	if (size < SMTP_MESSAGE_MIN)
		sys_panic("smtp_message_generate: size %zu, the least is %d",
			  size, SMTP_MESSAGE_MIN);
	if (size >= sizeof(head) - 1 + 2) {
		memcpy(buf, head, sizeof(head) - 1);
		n = sizeof(head) - 1;
	}
	for (k = 0; n < size; k++) {
		size_t rem = size - n, t = k == 0 ? 3 : 78;

		if (t > rem)
			t = rem;
		/* Never leave one octet: it could not hold a CRLF. */
		if (rem - t == 1)
			t = t > 2 ? t - 1 : t + 1;
		for (size_t i = 0; i < t - 2; i++)
			buf[n + i] = (int)i < gen_dots(k) ? '.' :
				     (char)('a' + (k + i) % 26);
		buf[n + t - 2] = '\r';
		buf[n + t - 1] = '\n';
		n += t;
	}
}
