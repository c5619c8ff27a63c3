/*
 * test_smtp: the SMTP state machines of bench/email/smtp.c on byte
 * strings — every reply code the server writes, commands out of
 * sequence, the 1000-octet line limit, pipelined input split at every
 * byte boundary, dot-stuffing round trips, bodies without their
 * terminating dot, the client's handling of multi-line replies and
 * refusals, and a bounded, seeded fuzz loop of garbage.
 *
 * Everything runs in memory: a harness (struct tx) drives a server
 * machine the way a sink would, recording its replies, its events (D
 * body begins, M message complete, A aborted, C closed) and the bodies
 * of the messages it completed, so that two ways of feeding the same
 * bytes can be compared exactly.
 *
 * Shared state: the static transcripts below; the tests run one after
 * another on one thread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bench/email/smtp.h"

#define TX_MAX (512 * 1024)
#define MSGS_MAX 256

/* ---------------------------------------------------------------------
 * The harness
 * ------------------------------------------------------------------- */

struct tx {
	char out[TX_MAX];            /* every reply, in order */
	size_t out_len;
	char ev[8192];               /* events: D M A C (BODY is not one:
					how many there are depends on the
					chunks) */
	size_t ev_len;
	char cur[TX_MAX];            /* the message being received */
	size_t cur_len;
	bool open;                   /* between D and M/A */
	size_t nmsg;                 /* messages completed */
	size_t msg_off[MSGS_MAX + 1];
	char msgs[TX_MAX];           /* their bodies, one after another */
	int commit[MSGS_MAX];        /* what the sink answers for each */
	size_t outcap;               /* the output buffer's size */
};

static struct tx TA, TB;

static void tx_init(struct tx *t, size_t outcap)
{
	memset(t, 0, sizeof(*t));
	t->outcap = outcap ? outcap : 4096;
}

static void tx_event(struct tx *t, char e)
{
	assert_true(t->ev_len < sizeof(t->ev) - 1);
	t->ev[t->ev_len++] = e;
	t->ev[t->ev_len] = '\0';
}

static void tx_flush(struct tx *t, struct smtp_buf *out)
{
	assert_true(t->out_len + out->len < sizeof(t->out));
	memcpy(t->out + t->out_len, out->data, out->len);
	t->out_len += out->len;
	t->out[t->out_len] = '\0';
	out->len = 0;
}

/* Feed one chunk the way a sink would, handling every event. */
static void tx_feed(struct smtp_server *s, struct tx *t, const char *in,
		    size_t len)
{
	char obuf[8192];
	struct smtp_buf out = { obuf, t->outcap, 0 };

	assert_true(t->outcap <= sizeof(obuf));
	for (;;) {
		size_t used = 99999;
		enum smtp_event ev = smtp_server_feed(s, in, len, &used, &out);

		assert_true(used <= len);
		in += used;
		len -= used;
		switch (ev) {
		case SMTP_EV_NONE:
			assert_int_equal(len, 0);
			tx_flush(t, &out);
			return;
		case SMTP_EV_FLUSH:
			/* Asked only when another reply would not fit. */
			assert_true(out.cap - out.len < SMTP_REPLY_MAX);
			tx_flush(t, &out);
			break;
		case SMTP_EV_DATA:
			assert_false(t->open);
			assert_true(smtp_server_message_open(s));
			t->open = true;
			t->cur_len = 0;
			tx_event(t, 'D');
			break;
		case SMTP_EV_BODY:
			assert_true(t->open);
			assert_true(s->data_len > 0);
			assert_true(t->cur_len + s->data_len <= sizeof(t->cur));
			memcpy(t->cur + t->cur_len, s->data, s->data_len);
			t->cur_len += s->data_len;
			break;
		case SMTP_EV_MESSAGE:
			assert_true(t->open);
			assert_true(t->nmsg < MSGS_MAX);
			t->open = false;
			memcpy(t->msgs + t->msg_off[t->nmsg], t->cur, t->cur_len);
			t->msg_off[t->nmsg + 1] = t->msg_off[t->nmsg] + t->cur_len;
			smtp_server_commit(s, t->commit[t->nmsg], &out);
			t->nmsg++;
			tx_event(t, 'M');
			break;
		case SMTP_EV_ABORT:
			assert_true(t->open);
			assert_false(smtp_server_message_open(s));
			t->open = false;
			t->cur_len = 0;
			tx_event(t, 'A');
			break;
		case SMTP_EV_CLOSE:
			tx_flush(t, &out);
			if (t->ev_len == 0 || t->ev[t->ev_len - 1] != 'C')
				tx_event(t, 'C');
			return;
		}
	}
}

/* How to cut the input into chunks. */
enum chunking { WHOLE, BYTES, RANDOM };

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void tx_run(struct smtp_server *s, struct tx *t, const char *in,
		   size_t len, enum chunking how)
{
	while (len > 0) {
		size_t n = how == WHOLE ? len : how == BYTES ? 1 :
			   1 + rnd() % 64;

		if (n > len)
			n = len;
		tx_feed(s, t, in, n);
		in += n;
		len -= n;
	}
}

/* A fresh server with cfg, greeted, fed `in` whole; the transcript in t
 * (the greeting included). */
static void session(struct tx *t, const struct smtp_server_config *cfg,
		    const char *in, enum chunking how)
{
	static struct smtp_server s;
	char g[SMTP_REPLY_MAX];
	struct smtp_buf out = { g, sizeof(g), 0 };

	smtp_server_init(&s, cfg);
	smtp_server_greet(&s, &out);
	tx_flush(t, &out);
	tx_run(&s, t, in, strlen(in), how);
}

static const struct smtp_server_config host = { .hostname = "mx.test" };

/* The replies after the greeting. */
static const char *replies(const struct tx *t)
{
	const char *p = strstr(t->out, "\r\n");

	assert_non_null(p);
	return p + 2;
}

static void expect_replies(const char *in, const char *want)
{
	tx_init(&TA, 0);
	session(&TA, &host, in, WHOLE);
	if (strcmp(replies(&TA), want) != 0)
		fail_msg("input:\n%s\nwant replies:\n%s\ngot:\n%s", in, want,
			 replies(&TA));
	/* Fed one octet at a time, the same. */
	tx_init(&TB, 0);
	session(&TB, &host, in, BYTES);
	assert_string_equal(TA.out, TB.out);
	assert_string_equal(TA.ev, TB.ev);
}

#define EHLO "EHLO client.test\r\n"
#define EHLO_REPLY "250-mx.test\r\n250-PIPELINING\r\n250-SIZE\r\n" \
		   "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define OK "250 2.0.0 Ok\r\n"
#define MAIL_OK "250 2.1.0 Ok\r\n"
#define RCPT_OK "250 2.1.5 Ok\r\n"
#define GO_AHEAD "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED "250 2.0.0 Ok: queued\r\n"
#define BYE "221 2.0.0 Bye\r\n"
#define E500 "500 5.5.2 Error: command not recognized\r\n"
#define TOO_LONG "500 5.5.2 Error: line too long\r\n"
#define NEED_HELO "503 5.5.1 Error: send HELO/EHLO first\r\n"
#define NEED_MAIL "503 5.5.1 Error: need MAIL command\r\n"
#define NEED_RCPT "503 5.5.1 Error: need RCPT command\r\n"
#define NESTED "503 5.5.1 Error: nested MAIL command\r\n"
#define TOO_BIG "552 5.3.4 Message size exceeds fixed limit\r\n"

/* ---------------------------------------------------------------------
 * The happy path and every reply code
 * ------------------------------------------------------------------- */

static void test_happy_path(void **state)
{
	const char *in = EHLO
		"MAIL FROM:<a@b.test>\r\n"
		"RCPT TO:<c@d.test>\r\n"
		"DATA\r\n"
		"Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\n"
		"QUIT\r\n";

	expect_replies(in, EHLO_REPLY MAIL_OK RCPT_OK GO_AHEAD QUEUED BYE);
	assert_true(strncmp(TA.out, "220 mx.test ESMTP", 17) == 0);
	assert_string_equal(TA.ev, "DMC");
	assert_int_equal(TA.nmsg, 1);
	assert_int_equal(TA.msg_off[1], strlen("Subject: hi\r\n\r\nbody\r\n.dot\r\n"));
	assert_memory_equal(TA.msgs, "Subject: hi\r\n\r\nbody\r\n.dot\r\n",
			    TA.msg_off[1]);
}

static void test_helo_and_ehlo_replies(void **state)
{
	static const struct smtp_server_config limited = {
		.hostname = "mx.test", .max_message = 12345,
	};

	expect_replies("HELO c\r\n", "250 mx.test\r\n");
	expect_replies(EHLO, EHLO_REPLY);
	tx_init(&TA, 0);
	session(&TA, &limited, EHLO, WHOLE);
	assert_string_equal(replies(&TA), "250-mx.test\r\n250-PIPELINING\r\n"
			    "250-SIZE 12345\r\n250-8BITMIME\r\n"
			    "250 ENHANCEDSTATUSCODES\r\n");
	/* The default host name. */
	tx_init(&TA, 0);
	session(&TA, NULL, "HELO c\r\n", WHOLE);
	assert_true(strncmp(TA.out, "220 threadlab ESMTP", 19) == 0);
	assert_string_equal(replies(&TA), "250 threadlab\r\n");
}

static void test_syntax_errors_501(void **state)
{
	expect_replies("HELO\r\n", "501 5.5.4 Syntax: HELO hostname\r\n");
	expect_replies("EHLO   \r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
	expect_replies(EHLO "MAIL\r\n", EHLO_REPLY
		       "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
	expect_replies(EHLO "MAIL TO:<a@b>\r\n", EHLO_REPLY
		       "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
	expect_replies(EHLO "MAIL FROM:a@b\r\n", EHLO_REPLY
		       "501 5.1.7 Bad sender address syntax\r\n");
	expect_replies(EHLO "MAIL FROM:<a b>\r\n", EHLO_REPLY
		       "501 5.1.7 Bad sender address syntax\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b\r\n", EHLO_REPLY
		       "501 5.1.7 Bad sender address syntax\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b>x\r\n", EHLO_REPLY
		       "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b> SIZE=12x\r\n", EHLO_REPLY
		       "501 5.5.4 Bad SIZE parameter\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b> SIZE\r\n", EHLO_REPLY
		       "501 5.5.4 Bad SIZE parameter\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b> BODY=9BIT\r\n", EHLO_REPLY
		       "501 5.5.4 Bad BODY parameter\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<>\r\n", EHLO_REPLY
		       MAIL_OK "501 5.1.3 Bad recipient address syntax\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:c@d\r\n", EHLO_REPLY
		       MAIL_OK "501 5.1.3 Bad recipient address syntax\r\n");
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nRCPT FROM:<c@d>\r\n",
		       EHLO_REPLY MAIL_OK
		       "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
	expect_replies(EHLO "DATA now\r\n", EHLO_REPLY
		       "501 5.5.4 Syntax: DATA\r\n");
	expect_replies(EHLO "RSET all\r\n", EHLO_REPLY
		       "501 5.5.4 Syntax: RSET\r\n");
	expect_replies(EHLO "QUIT now\r\nNOOP\r\n", EHLO_REPLY
		       "501 5.5.4 Syntax: QUIT\r\n" OK);
}

static void test_path_limit(void **state)
{
	char in[1024], want[1024];
	int n;

	/* 254 octets inside the brackets: 256 with them, accepted. */
	n = snprintf(in, sizeof(in), EHLO "MAIL FROM:<%0254d>\r\n", 0);
	assert_true(n > 0);
	expect_replies(in, EHLO_REPLY MAIL_OK);
	snprintf(in, sizeof(in), EHLO "MAIL FROM:<%0255d>\r\n", 0);
	snprintf(want, sizeof(want), "%s", EHLO_REPLY
		 "501 5.1.7 Bad sender address syntax\r\n");
	expect_replies(in, want);
}

static void test_parameters(void **state)
{
	static const struct smtp_server_config limited = {
		.hostname = "mx.test", .max_message = 100,
	};

	/* Known parameters after EHLO, in any case. */
	expect_replies(EHLO "MAIL FROM:<> size=10 BODY=8bitmime\r\n",
		       EHLO_REPLY MAIL_OK);
	expect_replies(EHLO "MAIL FROM:<> BODY=7BIT\r\n", EHLO_REPLY MAIL_OK);
	/* 555: unknown, or any parameter in a HELO session or on RCPT. */
	expect_replies(EHLO "MAIL FROM:<> FOO=1\r\n", EHLO_REPLY
		       "555 5.5.4 Unsupported option: FOO\r\n");
	expect_replies("HELO c\r\nMAIL FROM:<> SIZE=10\r\n",
		       "250 mx.test\r\n555 5.5.4 Unsupported option: SIZE\r\n");
	expect_replies(EHLO "MAIL FROM:<>\r\nRCPT TO:<a@b> NOTIFY=NEVER\r\n",
		       EHLO_REPLY MAIL_OK
		       "555 5.5.4 Unsupported option: NOTIFY=NEVER\r\n");
	/* 552 at MAIL when the announced size is over the limit. */
	tx_init(&TA, 0);
	session(&TA, &limited, EHLO "MAIL FROM:<> SIZE=101\r\n"
		"MAIL FROM:<> SIZE=100\r\n", WHOLE);
	assert_non_null(strstr(replies(&TA), TOO_BIG MAIL_OK));
}

static void test_unknown_and_unimplemented(void **state)
{
	expect_replies("FOO\r\n", E500);
	expect_replies("\r\n", E500);
	expect_replies(" HELO x\r\n", E500);
	expect_replies("HELOX x\r\n", E500);
	expect_replies("\x01\xff\x80 bar\r\n", E500);
	for (int i = 0; i < 8; i++) {
		static const char *const verbs[] = {
			"VRFY a", "EXPN list", "HELP", "TURN", "ETRN x",
			"AUTH PLAIN", "STARTTLS", "BDAT 10 LAST",
		};
		char in[64];

		snprintf(in, sizeof(in), "%s\r\n", verbs[i]);
		expect_replies(in, "502 5.5.1 Error: command not implemented\r\n");
	}
	/* NOOP takes (and ignores) an argument, before HELO too. */
	expect_replies("NOOP\r\nNOOP hello there\r\n", OK OK);
}

static void test_out_of_sequence_503(void **state)
{
	expect_replies("MAIL FROM:<a@b>\r\n", NEED_HELO);
	expect_replies("RCPT TO:<a@b>\r\n", NEED_MAIL);
	expect_replies("DATA\r\n", NEED_MAIL);
	expect_replies(EHLO "RCPT TO:<a@b>\r\n", EHLO_REPLY NEED_MAIL);
	expect_replies(EHLO "DATA\r\n", EHLO_REPLY NEED_MAIL);
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nDATA\r\n",
		       EHLO_REPLY MAIL_OK NEED_RCPT);
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n",
		       EHLO_REPLY MAIL_OK NESTED);
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
		       "MAIL FROM:<a@b>\r\n", EHLO_REPLY MAIL_OK RCPT_OK NESTED);
	/* After a message the next MAIL needs no RSET. */
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
		       "x\r\n.\r\nMAIL FROM:<a@b>\r\n",
		       EHLO_REPLY MAIL_OK RCPT_OK GO_AHEAD QUEUED MAIL_OK);
	/* Nothing changed state: a proper transaction still works. */
	expect_replies("DATA\r\nRCPT TO:<a@b>\r\n" EHLO "DATA\r\n"
		       "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n",
		       NEED_MAIL NEED_MAIL EHLO_REPLY NEED_MAIL MAIL_OK RCPT_OK
		       GO_AHEAD QUEUED);
	assert_string_equal(TA.ev, "DM");
}

static void test_rset_mid_transaction(void **state)
{
	expect_replies(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRSET\r\n"
		       "DATA\r\nRCPT TO:<c@d>\r\nMAIL FROM:<e@f>\r\n"
		       "RCPT TO:<g@h>\r\nDATA\r\nhello\r\n.\r\n",
		       EHLO_REPLY MAIL_OK RCPT_OK OK NEED_MAIL NEED_MAIL MAIL_OK
		       RCPT_OK GO_AHEAD QUEUED);
	assert_string_equal(TA.ev, "DM");
	/* RSET before HELO: allowed, and HELO is still needed after it. */
	expect_replies("RSET\r\nMAIL FROM:<a@b>\r\n", OK NEED_HELO);
	/* EHLO in the middle of a transaction resets it too. */
	expect_replies(EHLO "MAIL FROM:<a@b>\r\n" EHLO "RCPT TO:<c@d>\r\n",
		       EHLO_REPLY MAIL_OK EHLO_REPLY NEED_MAIL);
}

static void test_case_insensitive(void **state)
{
	expect_replies("ehlo client.test\r\nmail from:<a@b>\r\n"
		       "Rcpt To:<c@d>\r\ndAtA\r\nx\r\n.\r\nrset\r\nnoop\r\n"
		       "QuIt\r\n",
		       EHLO_REPLY MAIL_OK RCPT_OK GO_AHEAD QUEUED OK OK BYE);
	assert_string_equal(TA.ev, "DMC");
	expect_replies("helo x\r\nMail From: <a@b>\r\n",
		       "250 mx.test\r\n" MAIL_OK);
}

static void test_too_many_recipients_452(void **state)
{
	static const struct smtp_server_config two = {
		.hostname = "mx.test", .max_rcpts = 2,
	};

	tx_init(&TA, 0);
	session(&TA, &two, EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<1@x>\r\n"
		"RCPT TO:<2@x>\r\nRCPT TO:<3@x>\r\nDATA\r\nx\r\n.\r\n", WHOLE);
	assert_string_equal(replies(&TA), EHLO_REPLY MAIL_OK RCPT_OK RCPT_OK
			    "452 4.5.3 Error: too many recipients\r\n"
			    GO_AHEAD QUEUED);
	/* The default is RFC 5321's minimum, 100. */
	{
		static char in[8192];
		size_t n = 0;

		n += (size_t)sprintf(in + n, EHLO "MAIL FROM:<a@b>\r\n");
		for (int i = 0; i < 101; i++)
			n += (size_t)sprintf(in + n, "RCPT TO:<%d@x>\r\n", i);
		tx_init(&TA, 0);
		session(&TA, &host, in, WHOLE);
		assert_non_null(strstr(TA.out, RCPT_OK
				"452 4.5.3 Error: too many recipients\r\n"));
		assert_null(strstr(strstr(TA.out, "452"), RCPT_OK));
	}
}

static void test_commit_outcomes(void **state)
{
	static const struct {
		int result;
		const char *reply;
	} cases[] = {
		{ 0, QUEUED },
		{ -ENOSPC, "452 4.3.1 Insufficient system storage\r\n" },
		{ -EDQUOT, "452 4.3.1 Insufficient system storage\r\n" },
		{ -EFBIG, TOO_BIG },
		{ -EIO, "451 4.3.0 Error: local error in processing\r\n" },
		{ -EACCES, "451 4.3.0 Error: local error in processing\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[512];

		tx_init(&TA, 0);
		TA.commit[0] = cases[i].result;
		session(&TA, &host, EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
			"DATA\r\nx\r\n.\r\nMAIL FROM:<a@b>\r\n", WHOLE);
		/* The transaction is over either way. */
		snprintf(want, sizeof(want), EHLO_REPLY MAIL_OK RCPT_OK
			 GO_AHEAD "%s" MAIL_OK, cases[i].reply);
		assert_string_equal(replies(&TA), want);
	}
}

static void test_size_limit_552(void **state)
{
	static const struct smtp_server_config limited = {
		.hostname = "mx.test", .max_message = 100,
	};
	static char in[4096], body[256];
	const char *txn = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";

	/* Exactly 100 octets: accepted. 101: aborted as soon as it is
	 * over, answered 552 at the dot, and the session goes on. */
	for (int size = 100; size <= 101; size++) {
		for (enum chunking how = WHOLE; how <= RANDOM; how++) {
			memset(body, 'x', (size_t)size - 2);
			memcpy(body + size - 2, "\r\n", 3);
			snprintf(in, sizeof(in), EHLO "%s%s.\r\n%sok\r\n.\r\n",
				 txn, body, txn);
			tx_init(&TA, 0);
			session(&TA, &limited, in, how);
			if (size == 100) {
				assert_string_equal(TA.ev, "DMDM");
				assert_int_equal(TA.msg_off[1], 100);
			} else {
				assert_string_equal(TA.ev, "DADM");
				assert_int_equal(TA.nmsg, 1);
				assert_int_equal(TA.msg_off[1], 4);
				assert_non_null(strstr(TA.out, GO_AHEAD TOO_BIG
						       MAIL_OK));
			}
		}
	}
}

static void test_shutdown_421(void **state)
{
	static const struct {
		enum smtp_limit why;
		const char *reply;
	} cases[] = {
		{ SMTP_LIMIT_CONNECTIONS, "421 4.7.0 mx.test Error: too many connections\r\n" },
		{ SMTP_LIMIT_IDLE, "421 4.4.2 mx.test Error: timeout exceeded\r\n" },
		{ SMTP_LIMIT_SHUTDOWN, "421 4.3.2 mx.test Service shutting down\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_server s;
		char buf[SMTP_REPLY_MAX];
		struct smtp_buf out = { buf, sizeof(buf), 0 };
		const char *in = EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
				 "DATA\r\npart of a body\r\n";
		size_t used;

		/* Instead of the greeting (connection limit). */
		smtp_server_init(&s, &host);
		smtp_server_shutdown(&s, cases[i].why, &out);
		assert_int_equal(out.len, strlen(cases[i].reply));
		assert_memory_equal(buf, cases[i].reply, out.len);
		out.len = 0;
		assert_int_equal(smtp_server_feed(&s, "NOOP\r\n", 6, &used, &out),
				 SMTP_EV_CLOSE);
		assert_int_equal(used, 0);
		assert_int_equal(out.len, 0);

		/* In the middle of a body (idle client, server stopping):
		 * the message is open, then lost. */
		tx_init(&TA, 0);
		smtp_server_init(&s, &host);
		tx_run(&s, &TA, in, strlen(in), WHOLE);
		assert_string_equal(TA.ev, "D");
		assert_true(smtp_server_message_open(&s));
		smtp_server_shutdown(&s, cases[i].why, &out);
		assert_false(smtp_server_message_open(&s));
		assert_memory_equal(buf, cases[i].reply, out.len);
		out.len = 0;
		assert_int_equal(smtp_server_feed(&s, ".\r\n", 3, &used, &out),
				 SMTP_EV_CLOSE);
		assert_int_equal(out.len, 0);
	}
}

static void test_quit_closes(void **state)
{
	struct smtp_server s;
	char buf[SMTP_REPLY_MAX];
	struct smtp_buf out = { buf, sizeof(buf), 0 };
	const char *in = "QUIT\r\nNOOP\r\n";
	size_t used;

	smtp_server_init(&s, &host);
	assert_int_equal(smtp_server_feed(&s, in, strlen(in), &used, &out),
			 SMTP_EV_CLOSE);
	/* Bytes after QUIT are not consumed and not answered. */
	assert_int_equal(used, 6);
	assert_int_equal(out.len, strlen(BYE));
	assert_int_equal(smtp_server_feed(&s, in + 6, 6, &used, &out),
			 SMTP_EV_CLOSE);
	assert_int_equal(used, 0);
	assert_int_equal(out.len, strlen(BYE));
}

/* ---------------------------------------------------------------------
 * The 1000-octet line limit
 * ------------------------------------------------------------------- */

/* "NOOP " padded so the line, CRLF included, is `total` octets. */
static size_t noop_line(char *p, size_t total)
{
	memcpy(p, "NOOP ", 5);
	memset(p + 5, 'x', total - 7);
	memcpy(p + total - 2, "\r\n", 2);
	return total;
}

static void test_command_line_limit(void **state)
{
	static char in[300000];
	size_t n;

	/* 1000 octets: accepted; 1001: 500, and the next line is read as
	 * a command again. */
	n = noop_line(in, 1000);
	n += noop_line(in + n, 1001);
	n += noop_line(in + n, 999);
	memcpy(in + n, "NOOP\r\n", 7);
	expect_replies(in, OK TOO_LONG OK OK);

	/* The CR at octet 1000 and the LF at 1001 of a line: too long. */
	memset(in, 'y', 999);
	memcpy(in + 999, "\r\nNOOP\r\n", 9);
	expect_replies(in, TOO_LONG OK);
	/* ... and split between feeds exactly there. */
	{
		struct smtp_server s;

		tx_init(&TA, 0);
		smtp_server_init(&s, &host);
		tx_feed(&s, &TA, in, 1000);
		tx_feed(&s, &TA, in + 1000, strlen(in) - 1000);
		assert_string_equal(TA.out, TOO_LONG OK);
	}

	/* A quarter of a megabyte without a line end: one 500, at its
	 * end, and the session goes on. */
	memset(in, 'z', 250000);
	memcpy(in + 250000, "\r\n" EHLO, sizeof(EHLO "\r\n"));
	expect_replies(in, TOO_LONG EHLO_REPLY);

	/* A too-long MAIL does not start a transaction. */
	n = (size_t)sprintf(in, EHLO "MAIL FROM:<");
	memset(in + n, 'a', 1000);
	n += 1000;
	n += (size_t)sprintf(in + n, ">\r\nRCPT TO:<c@d>\r\n");
	expect_replies(in, EHLO_REPLY TOO_LONG NEED_MAIL);
}

static void test_body_line_limit(void **state)
{
	static char in[8192];
	const char *head = EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
	size_t n;

	/* A body line of exactly 1000 octets (998 + CRLF) is accepted,
	 * also when it starts with a stuffing dot. */
	n = (size_t)sprintf(in, "%s", head);
	memset(in + n, 'b', 998);
	n += 998;
	n += (size_t)sprintf(in + n, "\r\n.");
	memset(in + n, 'c', 997);
	n += 997;
	sprintf(in + n, "\r\n.\r\n");
	for (enum chunking how = WHOLE; how <= RANDOM; how++) {
		tx_init(&TA, 0);
		session(&TA, &host, in, how);
		assert_string_equal(TA.ev, "DM");
		assert_int_equal(TA.msg_off[1], 2000 - 1);
		assert_int_equal(TA.msgs[1000], 'c');
	}

	/* 1001 octets: the message is aborted, answered 500 at the dot,
	 * and the next transaction works. */
	n = (size_t)sprintf(in, "%s", head);
	memset(in + n, 'b', 999);
	n += 999;
	sprintf(in + n, "\r\nmore\r\n.\r\nMAIL FROM:<a@b>\r\n");
	for (enum chunking how = WHOLE; how <= RANDOM; how++) {
		tx_init(&TA, 0);
		session(&TA, &host, in, how);
		assert_string_equal(TA.ev, "DA");
		assert_int_equal(TA.nmsg, 0);
		assert_string_equal(replies(&TA), EHLO_REPLY MAIL_OK RCPT_OK
				    GO_AHEAD TOO_LONG MAIL_OK);
	}
}

/* ---------------------------------------------------------------------
 * Pipelining: the same bytes, cut anywhere, give the same session
 * ------------------------------------------------------------------- */

static const char pipelined[] =
	"EHLO client.test\r\n"
	"MAIL FROM:<a@b.test> SIZE=40\r\nRCPT TO:<c@d.test>\r\n"
	"RCPT TO:<e@f.test>\r\nDATA\r\n"
	"line one\r\n..two\r\n.\r\n"
	"MAIL FROM:<>\r\nRCPT TO:<x@y>\r\nRSET\r\nNOOP\r\nFOO bar\r\n"
	"MAIL FROM:<g@h>\r\nRCPT TO:<i@j>\r\nDATA\r\n"
	"\r\n.\r\r\n.x\r\n\r.\r\n..\r\n...\r\nend\r\n.\r\n"
	"RCPT TO:<k@l>\r\nDATA\r\n"
	"MAIL FROM:<m@n>\r\nRCPT TO:<o@p>\r\nDATA\r\n"
	"no terminator here\r\n"
	"QUIT\r\n";

static void compare_tx(const struct tx *a, const struct tx *b,
		       const char *how)
{
	if (strcmp(a->out, b->out) != 0 || strcmp(a->ev, b->ev) != 0 ||
	    a->nmsg != b->nmsg)
		fail_msg("%s: replies or events differ:\n%s %s\nvs\n%s %s", how,
			 a->out, a->ev, b->out, b->ev);
	assert_memory_equal(a->msg_off, b->msg_off,
			    (a->nmsg + 1) * sizeof(a->msg_off[0]));
	assert_memory_equal(a->msgs, b->msgs, a->msg_off[a->nmsg]);
}

static void test_pipelined_any_split(void **state)
{
	size_t len = strlen(pipelined);
	const char *second = "line one\r\n.two\r\n";
	const char *third = "\r\n\r\r\nx\r\n\r.\r\n.\r\n..\r\nend\r\n";

	tx_init(&TA, 0);
	session(&TA, &host, pipelined, WHOLE);
	assert_string_equal(replies(&TA), EHLO_REPLY MAIL_OK RCPT_OK RCPT_OK
			    GO_AHEAD QUEUED MAIL_OK RCPT_OK OK OK E500 MAIL_OK
			    RCPT_OK GO_AHEAD QUEUED NEED_MAIL NEED_MAIL MAIL_OK
			    RCPT_OK GO_AHEAD);
	/* The last body never got its dot: no message from it. */
	assert_string_equal(TA.ev, "DMDMD");
	assert_int_equal(TA.nmsg, 2);
	assert_int_equal(TA.msg_off[1], strlen(second));
	assert_memory_equal(TA.msgs, second, strlen(second));
	assert_int_equal(TA.msg_off[2] - TA.msg_off[1], strlen(third));
	assert_memory_equal(TA.msgs + TA.msg_off[1], third, strlen(third));

	/* Cut in two at every byte boundary. */
	for (size_t k = 1; k < len; k++) {
		struct smtp_server s;
		char g[SMTP_REPLY_MAX];
		struct smtp_buf out = { g, sizeof(g), 0 };
		char how[64];

		tx_init(&TB, 0);
		smtp_server_init(&s, &host);
		smtp_server_greet(&s, &out);
		tx_flush(&TB, &out);
		tx_feed(&s, &TB, pipelined, k);
		tx_feed(&s, &TB, pipelined + k, len - k);
		snprintf(how, sizeof(how), "split at %zu", k);
		compare_tx(&TA, &TB, how);
	}
	/* One byte at a time, and random chunks with random (small)
	 * output buffers, so FLUSH happens everywhere too. */
	tx_init(&TB, 0);
	session(&TB, &host, pipelined, BYTES);
	compare_tx(&TA, &TB, "one byte at a time");
	for (int seed = 0; seed < 200; seed++) {
		rng = (uint64_t)seed;
		tx_init(&TB, SMTP_REPLY_MAX + rnd() % 200);
		session(&TB, &host, pipelined, RANDOM);
		compare_tx(&TA, &TB, "random chunks");
	}
}

/* ---------------------------------------------------------------------
 * Dot-stuffing
 * ------------------------------------------------------------------- */

/* Stuff `body`, send it as a message, and check the server hands back
 * exactly the body (plus the CRLF the client adds when it lacks one). */
static void round_trip(const char *body, size_t len, enum chunking how)
{
	static char wire[TX_MAX], in[TX_MAX], want[TX_MAX];
	const char *head = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
	size_t hl = strlen(head), wl, wlen = len;
	struct smtp_server s;

	wl = smtp_stuff(body, len, wire);
	assert_int_equal(wl, smtp_stuffed_size(body, len));
	assert_true(wl >= 3 && memcmp(wire + wl - 3, ".\r\n", 3) == 0);
	memcpy(want, body, len);
	if (len > 0 && !(len >= 2 && body[len - 2] == '\r' &&
			 body[len - 1] == '\n')) {
		memcpy(want + len, "\r\n", 2);
		wlen += 2;
	}
	memcpy(in, head, hl);
	memcpy(in + hl, wire, wl);
	tx_init(&TA, 0);
	smtp_server_init(&s, &host);
	tx_run(&s, &TA, in, hl + wl, how);
	if (strcmp(TA.ev, "DM") != 0)
		fail_msg("body of %zu octets: events '%s', replies:\n%s", len,
			 TA.ev, TA.out);
	if (TA.msg_off[1] != wlen || memcmp(TA.msgs, want, wlen) != 0)
		fail_msg("body of %zu octets came back as %zu octets", len,
			 TA.msg_off[1]);
	assert_false(smtp_server_message_open(&s));
}

static void test_dot_stuffing_cases(void **state)
{
	static const char *const bodies[] = {
		"", ".", "..", "...", ".\r\n", "..\r\n", "a\r\n.\r\nb\r\n",
		"x", "\r", "\n", ".\r", ".\n", "\r\n", "\r\n.", "abc\r\n.",
		".\r\n.\r\n", "a\r\n..\r\n...\r\n", ".\r.\r\n", "\r\r\n.\r\n",
		"a\n.b\r\n", ".\r\r\n", "\r.\r\n", "end without crlf",
		"\r\n\r\n\r\n", "..a\r\n.b\r\nc.\r\n",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		for (enum chunking how = WHOLE; how <= RANDOM; how++)
			round_trip(bodies[i], strlen(bodies[i]), how);
	/* The wire form of a few, exactly. */
	{
		char w[64];

		assert_int_equal(smtp_stuff("", 0, w), 3);
		assert_memory_equal(w, ".\r\n", 3);
		assert_int_equal(smtp_stuff(".", 1, w), 7);
		assert_memory_equal(w, "..\r\n.\r\n", 7);
		assert_int_equal(smtp_stuff("a\r\n.b\r\n", 7, w), 11);
		assert_memory_equal(w, "a\r\n..b\r\n.\r\n", 11);
		/* A dot after a bare LF does not start a line. */
		assert_int_equal(smtp_stuff("a\n.b\r\n", 6, w), 9);
		assert_memory_equal(w, "a\n.b\r\n.\r\n", 9);
	}
}

static void test_dot_stuffing_random(void **state)
{
	static const char *const pieces[] = {
		".", "..", "\r\n", "\r", "\n", "a", "text", ".\r\n", "\r\n.",
		"\r\n..", " ", "\x00", "\xff",
	};
	static char body[8192];

	for (int seed = 0; seed < 400; seed++) {
		size_t n = 0, target;

		rng = 1000 + (uint64_t)seed;
		target = rnd() % 600;
		while (n < target) {
			const char *p = pieces[rnd() % (sizeof(pieces) /
							sizeof(pieces[0]))];
			size_t l = p[0] ? strlen(p) : 1;

			memcpy(body + n, p, l);
			n += l;
		}
		round_trip(body, n, (enum chunking)(seed % 3));
	}
}

/* ---------------------------------------------------------------------
 * A body without its terminating dot is no message
 * ------------------------------------------------------------------- */

static void test_missing_dot_no_message(void **state)
{
	static const char *const endings[] = {
		"", "body", "body\r\n", "body\r\n.", "body\r\n.\r",
		"body\r\n..\r\n", "body\r\n.\n", "body\r\n. \r\n",
		"body\n.\r\n", "body\r\n.\r.\r\n",
	};

	for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
		char in[256];
		struct smtp_server s;

		snprintf(in, sizeof(in), "HELO c\r\nMAIL FROM:<a@b>\r\n"
			 "RCPT TO:<c@d>\r\nDATA\r\n%s", endings[i]);
		for (enum chunking how = WHOLE; how <= RANDOM; how++) {
			tx_init(&TA, 0);
			smtp_server_init(&s, &host);
			tx_run(&s, &TA, in, strlen(in), how);
			if (strcmp(TA.ev, "D") != 0)
				fail_msg("'%s' made events '%s'", endings[i],
					 TA.ev);
			assert_true(smtp_server_message_open(&s));
			/* The connection ends: no message, ever. */
			smtp_server_eof(&s);
			assert_false(smtp_server_message_open(&s));
			tx_feed(&s, &TA, ".\r\n", 3);
			assert_string_equal(TA.ev, "DC");
			assert_int_equal(TA.nmsg, 0);
		}
	}
}

/* ---------------------------------------------------------------------
 * Misuse stops the program (checked without stopping it: only the
 * preconditions are exercised here, through the documented states)
 * ------------------------------------------------------------------- */

static void test_flush_when_output_full(void **state)
{
	struct smtp_server s;
	char buf[SMTP_REPLY_MAX + 100];
	struct smtp_buf out = { buf, sizeof(buf), 0 };
	const char *in = "NOOP\r\nNOOP\r\n";
	size_t used;

	smtp_server_init(&s, &host);
	out.len = 120;       /* unsent bytes: less than a reply's room left */
	assert_int_equal(smtp_server_feed(&s, in, strlen(in), &used, &out),
			 SMTP_EV_FLUSH);
	assert_int_equal(used, 0);
	assert_int_equal(out.len, 120);
	out.len = 0;
	assert_int_equal(smtp_server_feed(&s, in, strlen(in), &used, &out),
			 SMTP_EV_NONE);
	assert_int_equal(used, strlen(in));
	assert_int_equal(out.len, 2 * strlen(OK));
}

/* ---------------------------------------------------------------------
 * Fuzz: garbage never crashes the server and is always answered with
 * well-formed reply lines; the session always recovers
 * ------------------------------------------------------------------- */

/* Every line of out is "ddd[ -]text\r\n" with d a reply digit. */
static void check_reply_lines(const char *out, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *e = memchr(out + i, '\n', len - i);
		size_t l;

		assert_non_null(e);
		l = (size_t)(e - (out + i)) + 1;
		if (l < 6 || out[i] < '2' || out[i] > '5' ||
		    out[i + 1] < '0' || out[i + 1] > '9' ||
		    out[i + 2] < '0' || out[i + 2] > '9' ||
		    (out[i + 3] != ' ' && out[i + 3] != '-') ||
		    out[i + l - 2] != '\r' || l > 512)
			fail_msg("bad reply line '%.*s'", (int)l, out + i);
		i += l;
	}
}

static void test_fuzz_server(void **state)
{
	static const char *const tokens[] = {
		"HELO x\r\n", "EHLO y\r\n", "MAIL FROM:<a@b>\r\n",
		"MAIL FROM:<a@b> SIZE=100\r\n", "RCPT TO:<c@d>\r\n", "DATA\r\n",
		".\r\n", "..x\r\n", "\r\n", "\r", "\n", ".", "RSET\r\n",
		"NOOP\r\n", "mail from:", "<", ">", " ", "VRFY\r\n",
		"text line\r\n",
	};
	static char in[16384];
	static const struct smtp_server_config small = {
		.hostname = "mx.test", .max_message = 300, .max_rcpts = 3,
	};
	struct timespec t0, t1;
	int iters;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (iters = 0; iters < 20000; iters++) {
		struct smtp_server s;
		size_t n = 0, target;

		rng = 7000 + (uint64_t)iters;
		target = rnd() % 4000;
		while (n < target) {
			uint64_t r = rnd();

			if (r % 10 < 4) {
				/* Raw garbage, sometimes a long run. */
				size_t l = r % 97 == 0 ? 1200 : 1 + (r >> 8) % 16;

				for (size_t k = 0; k < l && n < sizeof(in) - 64; k++)
					in[n++] = (char)(r % 97 == 0 ? 'A' :
							 rnd() & 0xff);
			} else {
				const char *t = tokens[(r >> 8) %
						       (sizeof(tokens) /
							sizeof(tokens[0]))];

				memcpy(in + n, t, strlen(t));
				n += strlen(t);
			}
			if (n >= sizeof(in) - 64)
				break;
		}
		/* Whatever state it is in, this ends a line, a body, and
		 * the session. */
		memcpy(in + n, "\r\n.\r\nRSET\r\nQUIT\r\n", 17);
		n += 17;

		tx_init(&TA, SMTP_REPLY_MAX + rnd() % 1024);
		TA.commit[0] = (rnd() & 1) ? 0 : -EIO;
		smtp_server_init(&s, iters & 1 ? &small : &host);
		tx_run(&s, &TA, in, n, iters % 4 ? RANDOM : BYTES);
		check_reply_lines(TA.out, TA.out_len);
		assert_int_equal(s.state, SMTP_S_CLOSED);
		assert_true(TA.out_len >= strlen(BYE));
		assert_string_equal(TA.out + TA.out_len - strlen(BYE), BYE);
		assert_false(TA.open);

		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec >= 3)
			break;
	}
	print_message("fuzz: %d inputs\n", iters);
	assert_true(iters >= 100);
}

/* ---------------------------------------------------------------------
 * The client
 * ------------------------------------------------------------------- */

static const struct smtp_client_config ccfg = {
	.helo = "client.test", .from = "a@b.test", .to = "c@d.test",
};

/* Feed server bytes to the client in random chunks. */
static int client_feed(struct smtp_client *c, const char *p, size_t len)
{
	while (len > 0) {
		size_t n = 1 + rnd() % 16;
		int r;

		if (n > len)
			n = len;
		r = smtp_client_feed(c, p, n);
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Converse in memory: the client sends `count` messages of `body` to a
 * server machine with configuration `cfg` and quits; its sends are
 * taken in random pieces. The server's transcript ends in TA.
 */
static void converse(struct smtp_client *c,
		     const struct smtp_server_config *cfg, const char *body,
		     size_t len, int count)
{
	static char wire[TX_MAX];
	size_t wl = smtp_stuff(body, len, wire), given = 0;
	struct smtp_server s;
	char g[SMTP_REPLY_MAX];
	struct smtp_buf out = { g, sizeof(g), 0 };
	int sent = 0;

	tx_init(&TA, 0);
	smtp_server_init(&s, cfg);
	smtp_server_greet(&s, &out);
	tx_flush(&TA, &out);
	smtp_client_init(c, &ccfg);
	for (int steps = 0; steps < 100000; steps++) {
		struct iovec iov[2];
		int n;

		/* What the server said and the client has not seen. */
		if (given < TA.out_len) {
			assert_int_equal(client_feed(c, TA.out + given,
						     TA.out_len - given), 0);
			given = TA.out_len;
		}
		switch (smtp_client_state(c)) {
		case SMTP_C_READY:
			if (sent++ < count)
				smtp_client_mail(c, wire, wl, len);
			else
				smtp_client_quit(c);
			break;
		case SMTP_C_SEND:
			n = smtp_client_output(c, iov);
			assert_true(n >= 1 && n <= 2);
			for (int k = 0; k < n; k++) {
				size_t piece = 1 + rnd() % (iov[k].iov_len + 1);

				if (piece > iov[k].iov_len)
					piece = iov[k].iov_len;
				tx_feed(&s, &TA, iov[k].iov_base, piece);
				smtp_client_sent(c, piece);
				if (piece < iov[k].iov_len)
					break;
			}
			break;
		case SMTP_C_RECV:
			/* Lock-step: the server has answered everything. */
			fail_msg("client waits but the server said all it had:\n%s",
				 TA.out);
			return;
		case SMTP_C_DONE:
		case SMTP_C_FAILED:
			return;
		}
	}
	fail_msg("conversation did not end");
}

static void test_client_server_in_memory(void **state)
{
	static char body[70000];
	struct smtp_client c;

	for (int i = 0; i < 60; i++) {
		size_t size = i < 40 ? 2 + (size_t)i * 37 : 1000 + (size_t)i * 997;

		rng = (uint64_t)i;
		smtp_message_generate(body, size);
		converse(&c, &host, body, size, 1 + i % 4);
		assert_int_equal(smtp_client_state(&c), SMTP_C_DONE);
		assert_int_equal(c.accepted, 1 + i % 4);
		assert_int_equal(c.rejected, 0);
		assert_string_equal(c.error, "");
		assert_true(c.ext_pipelining);
		assert_true(c.ext_size);
		assert_int_equal(TA.nmsg, 1 + i % 4);
		for (size_t m = 0; m < TA.nmsg; m++) {
			assert_int_equal(TA.msg_off[m + 1] - TA.msg_off[m], size);
			assert_memory_equal(TA.msgs + TA.msg_off[m], body, size);
		}
		/* RSET is not needed between transactions. */
		assert_null(strstr(TA.out, OK));
	}
}

static void test_client_refusals(void **state)
{
	static const struct smtp_server_config tiny = {
		.hostname = "mx.test", .max_message = 50,
	};
	static char body[200];
	struct smtp_client c;

	/* Too big: the server aborts the body and answers its dot 552;
	 * the transaction is over without RSET, and the next one runs. */
	smtp_message_generate(body, 100);
	rng = 5;
	converse(&c, &tiny, body, 100, 3);
	assert_int_equal(smtp_client_state(&c), SMTP_C_DONE);
	assert_int_equal(c.accepted, 0);
	assert_int_equal(c.rejected, 3);
	assert_true(c.ext_size);
	assert_int_equal(c.ext_size_max, 50);
	assert_string_equal(c.error, "end of data: 552 5.3.4 Message size exceeds fixed limit");
	assert_int_equal(TA.nmsg, 0);
	assert_string_equal(TA.ev, "DADADAC");
	assert_null(strstr(TA.out, OK));        /* no RSET */

	/* Refused at MAIL (a HELO-only server would say 503 here; use a
	 * scripted one below): see test_client_replies. */

	/* Refused at the dot (the commit failed): counted, no RSET. */
	tx_init(&TA, 0);
	{
		struct smtp_server s;
		char g[SMTP_REPLY_MAX];
		struct smtp_buf out = { g, sizeof(g), 0 };
		char wire[64];
		size_t wl = smtp_stuff("hi\r\n", 4, wire), given = 0;
		int phase = 0;

		smtp_server_init(&s, &host);
		smtp_server_greet(&s, &out);
		tx_flush(&TA, &out);
		TA.commit[0] = -EIO;
		smtp_client_init(&c, &ccfg);
		for (int steps = 0; steps < 1000; steps++) {
			struct iovec iov[2];
			int n;

			if (given < TA.out_len) {
				assert_int_equal(smtp_client_feed(&c, TA.out + given, TA.out_len - given), 0);
				given = TA.out_len;
			}
			if (smtp_client_state(&c) == SMTP_C_READY) {
				if (phase++ < 2)
					smtp_client_mail(&c, wire, wl, 4);
				else
					smtp_client_quit(&c);
			} else if (smtp_client_state(&c) == SMTP_C_SEND) {
				n = smtp_client_output(&c, iov);
				assert_int_equal(n, 1);
				tx_feed(&s, &TA, iov[0].iov_base, iov[0].iov_len);
				smtp_client_sent(&c, iov[0].iov_len);
			} else {
				break;
			}
		}
		assert_int_equal(smtp_client_state(&c), SMTP_C_DONE);
		assert_int_equal(c.accepted, 1);
		assert_int_equal(c.rejected, 1);
		assert_string_equal(c.error, "end of data: 451 4.3.0 Error: local error in processing");
		assert_null(strstr(TA.out, OK));
	}
}

/* Feed a scripted server's replies to a client, answering its sends. */
static void scripted(struct smtp_client *c, const char *const *rep,
		     int nrep, int messages)
{
	static const char wire[] = "x\r\n.\r\n";
	int sent = 0;

	smtp_client_init(c, &ccfg);
	for (int i = 0; i < nrep; i++) {
		int r;

		while (smtp_client_state(c) == SMTP_C_SEND ||
		       smtp_client_state(c) == SMTP_C_READY) {
			struct iovec iov[2];

			if (smtp_client_state(c) == SMTP_C_READY) {
				if (sent++ < messages)
					smtp_client_mail(c, wire, 6, 3);
				else
					smtp_client_quit(c);
				continue;
			}
			smtp_client_output(c, iov);
			smtp_client_sent(c, iov[0].iov_len);
		}
		if (smtp_client_state(c) != SMTP_C_RECV)
			return;
		r = client_feed(c, rep[i], strlen(rep[i]));
		if (r < 0)
			return;
	}
}

static void test_client_replies(void **state)
{
	struct smtp_client c;

	rng = 99;
	/* Multi-line EHLO reply, split anywhere, keywords read. */
	{
		const char *rep[] = {
			"220 mx ESMTP\r\n",
			"250-mx\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
			"250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n",
			"221 bye\r\n",
		};

		scripted(&c, rep, 7, 1);
		assert_int_equal(smtp_client_state(&c), SMTP_C_DONE);
		assert_true(c.ext_pipelining && c.ext_size);
		assert_int_equal(c.ext_size_max, 1000);
		assert_int_equal(c.accepted, 1);
	}
	/* A server without ESMTP: EHLO 500, fall back to HELO; bare LF
	 * line ends and a bare "250" are accepted. */
	{
		const char *rep[] = {
			"220 old\n", "500 what?\r\n", "250\r\n", "250 ok\n",
			"250 ok\r\n", "354 go\r\n", "250 queued\r\n", "221\r\n",
		};

		scripted(&c, rep, 8, 1);
		assert_int_equal(smtp_client_state(&c), SMTP_C_DONE);
		assert_false(c.ext_size);
		assert_int_equal(c.accepted, 1);
	}
	/* Refused at RCPT: counted once, RSET, then the next is fine. */
	{
		const char *rep[] = {
			"220 mx\r\n", "250 mx\r\n", "250 ok\r\n",
			"550-5.1.1 no such\r\n550 5.1.1 user\r\n", "250 reset\r\n",
			"250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 ok\r\n",
			"221 bye\r\n",
		};

		scripted(&c, rep, 10, 2);
		assert_int_equal(smtp_client_state(&c), SMTP_C_DONE);
		assert_int_equal(c.accepted, 1);
		assert_int_equal(c.rejected, 1);
		assert_string_equal(c.error, "RCPT: 550 5.1.1 user");
	}
	/* 421 anywhere ends the session; the message in flight is lost. */
	{
		const char *rep[] = {
			"220 mx\r\n", "250 mx\r\n", "250 ok\r\n",
			"421 4.4.2 mx timeout\r\n",
		};

		scripted(&c, rep, 4, 1);
		assert_int_equal(smtp_client_state(&c), SMTP_C_FAILED);
		assert_int_equal(c.rejected, 1);
		assert_int_equal(c.accepted, 0);
		assert_string_equal(c.error, "RCPT: 421 4.4.2 mx timeout");
	}
	/* A greeting that refuses. */
	{
		const char *rep[] = { "554 go away\r\n" };

		scripted(&c, rep, 1, 1);
		assert_int_equal(smtp_client_state(&c), SMTP_C_FAILED);
		assert_string_equal(c.error, "greeting: 554 go away");
	}
	/* The connection closes in the middle of a transaction. */
	{
		const char *rep[] = { "220 mx\r\n", "250 mx\r\n", "250 ok\r\n",
				      "250 ok\r\n", "354 go\r\n" };

		struct iovec iov[2];

		scripted(&c, rep, 5, 1);
		assert_int_equal(smtp_client_state(&c), SMTP_C_SEND);
		assert_int_equal(smtp_client_output(&c, iov), 1);
		assert_int_equal(iov[0].iov_len, 6);
		smtp_client_sent(&c, 6);
		assert_int_equal(smtp_client_state(&c), SMTP_C_RECV);
		smtp_client_eof(&c);
		assert_int_equal(smtp_client_state(&c), SMTP_C_FAILED);
		assert_int_equal(c.rejected, 1);
		assert_string_equal(c.error, "end of data: connection closed by the server");
	}
}

static void test_client_protocol_errors(void **state)
{
	static const char *const bad[] = {
		"22 short\r\n", "abc\r\n", "2200 x\r\n", "220x\r\n",
		"600 no\r\n", "220-a\r\n221 b\r\n", "220 hi\r\n250 extra\r\n",
	};
	struct smtp_client c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_client_init(&c, &ccfg);
		assert_int_equal(smtp_client_feed(&c, bad[i], strlen(bad[i])),
				 -EPROTO);
		assert_int_equal(smtp_client_state(&c), SMTP_C_FAILED);
		assert_true(c.error[0] != '\0');
	}
	/* A reply line longer than 1000 octets. */
	{
		static char longline[1200];

		memset(longline, 'x', sizeof(longline));
		memcpy(longline, "220 ", 4);
		smtp_client_init(&c, &ccfg);
		assert_int_equal(smtp_client_feed(&c, longline, sizeof(longline)),
				 -EPROTO);
		assert_int_equal(smtp_client_state(&c), SMTP_C_FAILED);
	}
}

/* ---------------------------------------------------------------------
 * The generated message
 * ------------------------------------------------------------------- */

static void test_message_generate(void **state)
{
	static char a[70000], w[80000];
	static const char head[] = "From: <sender@threadlab.test>\r\n"
		"To: <sink@threadlab.test>\r\n"
		"Subject: threadlab email benchmark\r\n\r\n";

	for (size_t size = SMTP_MESSAGE_MIN; size < 3000; size++) {
		size_t line = 0, body_line = 0, hl = strlen(head);
		size_t start = size >= hl + 2 ? hl : 0;

		memset(a, 0, size + 1);
		smtp_message_generate(a, size);
		assert_int_equal(a[size], 0);
		assert_memory_equal(a + size - 2, "\r\n", 2);
		if (start)
			assert_memory_equal(a, head, hl);
		/* CRLF lines of at most 78 octets with the CRLF; the body's
		 * line 0 is a lone "." (when 3 octets fit), and lines k%8
		 * of 3 and 6 start with "." and "..". */
		for (size_t i = start; i < size; i++) {
			if (i == start || a[i - 1] == '\n') {
				size_t left = size - i;

				line = 0;
				if (body_line == 0 && left >= 3 && left != 4)
					assert_memory_equal(a + i, ".\r\n", 3);
				if (body_line % 8 == 6 && left >= 80)
					assert_memory_equal(a + i, "..", 2);
				body_line++;
			}
			line++;
			assert_true(line <= 80);
			if (a[i] == '\r')
				assert_int_equal(a[i + 1], '\n');
			else if (a[i] != '\n')
				assert_true(a[i] == '.' || (a[i] >= 'a' && a[i] <= 'z'));
		}
		/* Its stuffed form goes through the server unchanged. */
		if (size % 97 == 0)
			round_trip(a, size, RANDOM);
	}
	/* 1024 octets (the default): known first body lines and length. */
	smtp_message_generate(a, 1024);
	assert_memory_equal(a + strlen(head), ".\r\nbcdefghij", 12);
	assert_int_equal(smtp_stuff(a, 1024, w), smtp_stuffed_size(a, 1024));
	assert_memory_equal(w + strlen(head), "..\r\n", 4);
	smtp_message_generate(a, 65536);
	round_trip(a, 65536, WHOLE);

	/* Every size from 2 to 3000 and 65536, hashed (FNV-1a, 64 bits):
	 * the value is what bench/email/go/message.go's buildMessage gives
	 * for the same sizes (computed from the Go code when this test was
	 * written), so the C sender keeps sending the peers' bytes. */
	{
		uint64_t h = 0xcbf29ce484222325ull;

		for (size_t size = 2; size <= 65536; size++) {
			if (size > 3000)
				size = 65536;
			smtp_message_generate(a, size);
			for (size_t i = 0; i < size; i++)
				h = (h ^ (unsigned char)a[i]) * 0x100000001b3ull;
		}
		assert_int_equal(h, 0xdbba193b8c96075cull);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_happy_path),
		cmocka_unit_test(test_helo_and_ehlo_replies),
		cmocka_unit_test(test_syntax_errors_501),
		cmocka_unit_test(test_path_limit),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_unknown_and_unimplemented),
		cmocka_unit_test(test_out_of_sequence_503),
		cmocka_unit_test(test_rset_mid_transaction),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_too_many_recipients_452),
		cmocka_unit_test(test_commit_outcomes),
		cmocka_unit_test(test_size_limit_552),
		cmocka_unit_test(test_shutdown_421),
		cmocka_unit_test(test_quit_closes),
		cmocka_unit_test(test_command_line_limit),
		cmocka_unit_test(test_body_line_limit),
		cmocka_unit_test(test_pipelined_any_split),
		cmocka_unit_test(test_dot_stuffing_cases),
		cmocka_unit_test(test_dot_stuffing_random),
		cmocka_unit_test(test_missing_dot_no_message),
		cmocka_unit_test(test_flush_when_output_full),
		cmocka_unit_test(test_fuzz_server),
		cmocka_unit_test(test_client_server_in_memory),
		cmocka_unit_test(test_client_refusals),
		cmocka_unit_test(test_client_replies),
		cmocka_unit_test(test_client_protocol_errors),
		cmocka_unit_test(test_message_generate),
	};

	return cmocka_run_group_tests_name("email/smtp", tests, NULL, NULL);
}
