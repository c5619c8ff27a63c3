/*
 * bench/email/smtp.h — the SMTP dialogue (RFC 5321) as two state machines
 * with no I/O in them: the server side that a sink runs, and the client
 * side that a sender runs. They consume bytes and produce bytes into the
 * caller's buffers, so every model (blocking threads, rt/ tasks on
 * io_uring) drives the same code, and the tests feed them byte strings.
 *
 * Names: `smtp_` (SMTP_ for macros). This is bench/ code, but the protocol
 * is the only thing these names stand for in the program, and the shorter
 * prefix keeps the state machines readable; nothing else in threadlab or
 * its libraries uses `smtp_`.
 *
 * What is implemented: HELO, EHLO (PIPELINING, SIZE, 8BITMIME,
 * ENHANCEDSTATUSCODES), MAIL FROM (SIZE= and BODY= parameters), RCPT TO,
 * DATA with dot-stuffing, RSET, NOOP, QUIT; VRFY, EXPN, HELP, TURN, ETRN,
 * AUTH, STARTTLS, BDAT are known and answered 502. No TLS, no AUTH, no
 * SMTPUTF8.
 *
 * Shared state: none. A machine belongs to one session and is used by one
 * thread or task at a time; the functions keep no global state.
 *
 * The server's design is explained at the top of smtp.c; docs/email.md
 * shows a transcript.
 */
#ifndef THREADLAB_BENCH_SMTP_H
#define THREADLAB_BENCH_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* RFC 5321 4.5.3.1.4 and .6: a command line and a text line are at most
 * 1000 octets including the CRLF. */
#define SMTP_LINE_MAX 1000
/* 4.5.3.1.3: a path (with its angle brackets) is at most 256 octets. */
#define SMTP_PATH_MAX 256
/* 4.5.3.1.8: a server must accept at least 100 recipients. */
#define SMTP_RCPTS_DEFAULT 100
/* The server never writes more than this for one command (the EHLO reply
 * is the longest); smtp_server_feed stops and asks for a flush when its
 * output buffer has less room than this. */
#define SMTP_REPLY_MAX 512

/*
 * An output buffer owned by the caller: the machines append at
 * data + len and never past cap. The caller sends data[0..len) and sets
 * len = 0 (or moves the unsent tail to the front) when asked to flush.
 */
struct smtp_buf {
	char *data;
	size_t cap;
	size_t len;
};

/* ---------------------------------------------------------------------
 * Server
 * ------------------------------------------------------------------- */

struct smtp_server_config {
	const char *hostname;    /* in the greeting and HELO/EHLO replies;
				    NULL: "threadlab" */
	uint64_t max_message;    /* message size limit in octets (unstuffed,
				    CRLF line ends); 0: no limit */
	unsigned max_rcpts;      /* per transaction; 0: SMTP_RCPTS_DEFAULT */
};

/* What smtp_server_feed stopped for. */
enum smtp_event {
	/* Every input byte was consumed (a partial line is kept inside).
	 * Send what is in `out`, if anything, then read more input. */
	SMTP_EV_NONE = 0,
	/* `out` is too full to hold another reply. Send it, empty it, and
	 * call again with the input not yet used. */
	SMTP_EV_FLUSH,
	/* DATA was accepted and 354 is in `out`: a message body follows.
	 * A sink opens its temporary file here. */
	SMTP_EV_DATA,
	/* Body octets, dot-stuffing removed, CRLF line ends as sent:
	 * s->data[0..s->data_len). They point into the input (or into a
	 * constant) and are valid until the next call. A sink writes them. */
	SMTP_EV_BODY,
	/* The terminating <CRLF>.<CRLF> arrived: the body is complete. The
	 * sink commits it (Maildir: fsync, rename into new/) and then MUST
	 * call smtp_server_commit() with the outcome, which writes the reply
	 * (250 only when the outcome is 0). This is the only event that
	 * says a message exists. */
	SMTP_EV_MESSAGE,
	/* The message begun at SMTP_EV_DATA will never be accepted (too
	 * big, a line too long): discard what was written. The machine
	 * swallows the rest of the body and answers the final dot itself
	 * with the error. */
	SMTP_EV_ABORT,
	/* The session is over (QUIT answered with 221, or a 421 written):
	 * send `out` and close. Further feeds consume nothing and return
	 * this again. */
	SMTP_EV_CLOSE,
};

/* Reasons for the 421 that smtp_server_shutdown writes. */
enum smtp_limit {
	SMTP_LIMIT_CONNECTIONS,  /* too many connections */
	SMTP_LIMIT_IDLE,         /* idle (or stalled mid-command) too long */
	SMTP_LIMIT_SHUTDOWN,     /* the server is stopping */
};

/* Session states (s->state). */
enum smtp_server_state {
	SMTP_S_INIT,             /* greeted, no HELO/EHLO yet */
	SMTP_S_READY,            /* HELO/EHLO done, no transaction */
	SMTP_S_MAIL,             /* MAIL accepted */
	SMTP_S_RCPT,             /* at least one RCPT accepted */
	SMTP_S_DATA,             /* receiving the body */
	SMTP_S_COMMIT,           /* waiting for smtp_server_commit */
	SMTP_S_CLOSED,           /* QUIT answered or 421 written */
};

struct smtp_server {
	/* Set by smtp_server_init; read-only afterwards. */
	char hostname[256];
	uint64_t max_message;
	unsigned max_rcpts;

	enum smtp_server_state state;
	bool esmtp;              /* the client said EHLO */

	/* The current transaction (valid from MAIL on). */
	char mail_from[SMTP_PATH_MAX + 1];   /* reverse-path, no brackets */
	unsigned rcpts;                      /* recipients accepted */
	uint64_t msg_size;                   /* body octets so far */

	/* Payload of SMTP_EV_BODY. */
	const char *data;
	size_t data_len;

	/* Private below. */
	char line[SMTP_LINE_MAX];            /* the command line so far */
	uint64_t line_len;                   /* its octets, even past the buffer */
	bool line_cr;                        /* its last octet was CR */
	int body;                            /* where in a body line (smtp.c) */
	uint64_t body_line;                  /* octets of this body line */
	int body_error;                      /* why the body was aborted, 0 */
};

/* Set up a session. cfg may be NULL (defaults). */
void smtp_server_init(struct smtp_server *s,
		      const struct smtp_server_config *cfg);

/* Write the 220 greeting into out (which must have SMTP_REPLY_MAX free). */
void smtp_server_greet(struct smtp_server *s, struct smtp_buf *out);

/*
 * Consume input bytes from the client, appending replies to out, until
 * something needs the caller (the returned event). *used says how many
 * of the len bytes were consumed; call again with the rest. Commands may
 * be pipelined and split anywhere: feeding a dialogue one byte at a time
 * gives the same replies and events as feeding it whole.
 *
 * out->cap must be at least SMTP_REPLY_MAX; calling while a message
 * waits for smtp_server_commit is a programming error. Both stop the
 * program through sys_panic.
 */
enum smtp_event smtp_server_feed(struct smtp_server *s, const char *in,
				 size_t len, size_t *used,
				 struct smtp_buf *out);

/*
 * The outcome of committing the message announced by SMTP_EV_MESSAGE:
 * 0 writes "250 2.0.0 Ok: queued"; -ENOSPC or -EDQUOT writes 452 (out of
 * storage), -EFBIG 552, any other -errno 451 (local error). The
 * transaction ends either way. out must have SMTP_REPLY_MAX free (it
 * does when SMTP_EV_MESSAGE was returned, if the caller added nothing).
 */
void smtp_server_commit(struct smtp_server *s, int result,
			struct smtp_buf *out);

/* True while a body is being received and has not been aborted: the
 * bytes a sink has written so far belong to a message that does not
 * exist yet. When the connection ends now, they must be discarded. */
bool smtp_server_message_open(const struct smtp_server *s);

/*
 * The connection ended (end of file or an error) before the session was
 * over. Marks the session closed. A message that was open is lost: the
 * caller discards it (check smtp_server_message_open first).
 */
void smtp_server_eof(struct smtp_server *s);

/*
 * Write "421 4.x.x <host> <reason>" and close the session: for a
 * connection over the limit (before or instead of the greeting), an idle
 * or stalled client, a server that is stopping. An open message is lost,
 * as for smtp_server_eof. out must have SMTP_REPLY_MAX free.
 */
void smtp_server_shutdown(struct smtp_server *s, enum smtp_limit why,
			  struct smtp_buf *out);

/* ---------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------- */

struct smtp_client_config {
	const char *helo;        /* EHLO/HELO argument; NULL: "threadlab" */
	const char *from;        /* reverse-path without brackets ("" ok) */
	const char *to;          /* forward-path without brackets */
};

/* What the client waits for (smtp_client_state). */
enum smtp_client_state {
	SMTP_C_SEND,     /* it has bytes to send: smtp_client_output, then
			    smtp_client_sent with how many went out */
	SMTP_C_RECV,     /* it waits for a reply: read, smtp_client_feed */
	SMTP_C_READY,    /* between transactions: smtp_client_mail or
			    smtp_client_quit */
	SMTP_C_DONE,     /* QUIT answered: close the connection */
	SMTP_C_FAILED,   /* the session cannot go on (c->error says why):
			    close the connection */
};

/* The commands the client waits on a reply for (private). */
enum smtp_client_cmd {
	SMTP_CMD_GREETING, SMTP_CMD_EHLO, SMTP_CMD_HELO, SMTP_CMD_MAIL,
	SMTP_CMD_RCPT, SMTP_CMD_DATA, SMTP_CMD_DOT, SMTP_CMD_RSET,
	SMTP_CMD_QUIT,
};

struct smtp_client {
	char helo[256];
	char from[SMTP_PATH_MAX + 1];
	char to[SMTP_PATH_MAX + 1];

	enum smtp_client_state state;
	/* What the server's EHLO reply announced. */
	bool ext_pipelining;
	bool ext_size;
	uint64_t ext_size_max;   /* SIZE's value; 0: no limit given */

	/* Outcomes, counted over the session. */
	uint64_t accepted;       /* messages answered 250 after the dot */
	uint64_t rejected;       /* transactions refused at any step */
	int last_code;           /* the last reply's code */
	char error[256];         /* the first failure, "" when none */

	/* Private below. */
	enum smtp_client_cmd waiting;        /* the reply it waits for */
	char cmd[SMTP_LINE_MAX];             /* the command being sent */
	size_t cmd_len, cmd_sent;
	const char *msg;                     /* the body being sent */
	size_t msg_len, msg_sent;
	size_t msg_size;                     /* its unstuffed size, for SIZE= */
	bool failed_txn;                     /* this transaction was refused */
	char reply[SMTP_LINE_MAX];           /* the reply line so far */
	size_t reply_len;
	int reply_code;                      /* of the reply being read, 0 */
};

/* Set up a session: it first waits for the server's greeting (RECV).
 * Paths and the helo name longer than their limits stop the program. */
void smtp_client_init(struct smtp_client *c,
		      const struct smtp_client_config *cfg);

static inline enum smtp_client_state
smtp_client_state(const struct smtp_client *c)
{
	return c->state;
}

/*
 * Begin a transaction for one message (state must be READY): MAIL, RCPT,
 * DATA, then the body. `wire` is the body already dot-stuffed and
 * terminated (smtp_stuff); it is not copied and must stay valid until the
 * client is READY again. `size` is its unstuffed size (kept for a future
 * SIZE= parameter; MAIL is sent plain, as by the other senders). When the
 * transaction ends the client is READY again, with c->accepted or
 * c->rejected one higher.
 */
void smtp_client_mail(struct smtp_client *c, const char *wire,
		      size_t wire_len, size_t size);

/* Say QUIT (state must be READY). */
void smtp_client_quit(struct smtp_client *c);

/*
 * The bytes to send now, as at most 2 iovecs (a command, or a message
 * body), for writev/sendmsg or a vectored send on a ring. Returns the
 * number of iovecs filled: 0 unless the state is SEND.
 */
int smtp_client_output(const struct smtp_client *c, struct iovec iov[2]);

/* n of the bytes smtp_client_output described were sent. When all are
 * sent, the client waits for the reply (RECV). */
void smtp_client_sent(struct smtp_client *c, size_t n);

/*
 * Consume reply bytes from the server (state RECV). A reply may span
 * several lines ("250-..." continuations) and arrive split anywhere.
 * RETURN VALUE: 0, or -EPROTO when the server broke the protocol (a
 * malformed or too long reply line, a continuation with another code,
 * bytes nobody asked for); the client is then FAILED. A 421 reply, or a
 * greeting other than 220, also makes it FAILED (with 0 returned: the
 * server spoke correctly, it refused).
 */
int smtp_client_feed(struct smtp_client *c, const char *in, size_t len);

/* The connection ended: FAILED unless QUIT was answered already. */
void smtp_client_eof(struct smtp_client *c);

/* ---------------------------------------------------------------------
 * Message bodies
 * ------------------------------------------------------------------- */

/*
 * Dot-stuffing (RFC 5321 4.5.2): the wire form of a body. A line starting
 * with '.' gets one more; a body that does not end with CRLF gets one
 * (the terminator must start a line); then ".\r\n". Lines end at CRLF
 * only. smtp_stuffed_size is the exact size smtp_stuff writes.
 */
size_t smtp_stuffed_size(const char *body, size_t len);
size_t smtp_stuff(const char *body, size_t len, char *out);

/*
 * Fill buf with the benchmark message: exactly `size` octets
 * (SMTP_MESSAGE_MIN <= size), CRLF lines, the same bytes as the Go, PHP
 * and Python senders send (bench/email/go/message.go states the rule):
 * a header section (From, To, Subject; left out when size cannot hold it
 * and a CRLF), then body line k of 76 characters (line 0: 1), the last
 * cut short so the total is exact. Line k starts with one '.' when k%8 is
 * 0 or 3 and with ".." when k%8 is 6, so body line 0 is a lone "." (the
 * end of DATA, were it not stuffed) and other lines need stuffing too.
 */
void smtp_message_generate(char *buf, size_t size);

#define SMTP_MESSAGE_MIN 2
#define SMTP_MESSAGE_MAX (64u << 20)
/* The envelope and header addresses of the benchmark message. */
#define SMTP_MESSAGE_FROM "sender@threadlab.test"
#define SMTP_MESSAGE_TO   "sink@threadlab.test"

#endif
