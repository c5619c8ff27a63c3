<?php
/*
 * The PHP peers of `threadlab send`: deliver N emails to an SMTP server over
 * C concurrent sessions, and print the result as `threadlab send`
 * (bench/email/send.c) and the Go and Python peers do.
 *
 *   php bench/email/php/send.php --model php-fibers --emails 5000 \
 *       --concurrency 200 [--reuse] [--server HOST:PORT] [--size BYTES]
 *
 * Models (--model; the short names fibers and fork work too):
 *
 *   php-fibers  one OS thread: one Fiber per session (PHP 8.1+), sockets
 *               from stream_socket_client made non-blocking, and a small
 *               scheduler (run_fibers) that parks a fiber waiting for its
 *               socket and wakes it when stream_select says the socket is
 *               ready.
 *   php-fork    one process per CPU (pcntl_fork; min(CPUs, sessions) of
 *               them), the sessions dealt out among them round-robin, each
 *               process running its sessions concurrently on fibers, as
 *               php-fibers does. Each process is one OS thread; the parent
 *               only forks, collects results through socket pairs and waits.
 *
 * Output: settings as `key: value` lines, then one line in Go's benchmark
 * format; ns/op is wall time per email, emails/s its inverse, cpu-us/email
 * user+sys CPU time (getrusage: this process over the sending, plus its
 * children for php-fork) per email. The -N suffix is the number of
 * processes sending (1 for php-fibers, left off as Go does). `threads` is
 * the OS threads used: 1 for php-fibers; the sending processes plus the
 * parent for php-fork, which also prints them as `processes`.
 *
 * Exit status: 0 when every message got its 250; 1 when any did not (a
 * `--- FAIL:` line says how many and the first error); 2 for bad flags.
 *
 * The message is the same bytes as in the Go and Python peers: see
 * build_message. Shared state: none; each process is single-threaded, and a
 * fiber runs only between its scheduler's resume and its next suspend.
 */

declare(strict_types=1);

const ENVELOPE_FROM = 'sender@threadlab.test';
const ENVELOPE_TO = 'sink@threadlab.test';
const MESSAGE_HEAD = "From: <" . ENVELOPE_FROM . ">\r\n" .
	"To: <" . ENVELOPE_TO . ">\r\n" .
	"Subject: threadlab email benchmark\r\n" .
	"\r\n";
const MIN_SIZE = 2;
const MAX_SIZE = 64 << 20;
/* The ranges `threadlab send` accepts (bench/email/send.c). */
const MAX_EMAILS = 1000000000;
const MAX_CONCURRENCY = 65536;
/* stream_select is select(2): descriptors must stay below FD_SETSIZE
 * (1024), and each session holds one; the rest is headroom for PHP's own. */
const MAX_SESSIONS_PER_PROCESS = 1000;
/* How long one message (or one connection set-up) may take before the
 * server counts as stalled and the message as not accepted. */
const MESSAGE_TIMEOUT_NS = 30 * 1000000000;
const MAX_LINE = 4096;

const CMD_EHLO = "EHLO client.threadlab.test\r\n";
const CMD_MAIL = "MAIL FROM:<" . ENVELOPE_FROM . ">\r\n";
const CMD_RCPT = "RCPT TO:<" . ENVELOPE_TO . ">\r\n";
const CMD_DATA = "DATA\r\n";
const CMD_QUIT = "QUIT\r\n";

const MODELS = ['fibers' => 'php-fibers', 'php-fibers' => 'php-fibers',
	'fork' => 'php-fork', 'php-fork' => 'php-fork'];
const USAGE = "usage: send.php --model php-fibers|php-fork --emails N --concurrency C [--reuse] [--server HOST:PORT] [--size BYTES]\n";

class SmtpError extends Exception {}

/* ------------------------------------------------------------------ */
/* The message                                                          */

function dots(int $k): int
{
	return match ($k % 8) { 0, 3 => 1, 6 => 2, default => 0 };
}

/*
 * The message of exactly $size bytes (>= 2), before dot-stuffing: the
 * headers (left out when the size cannot hold them and a CRLF), then body
 * line k of 76 characters (line 0: 1) and CRLF, the last cut short to make
 * the size exact, never leaving a single byte (the line before gives one
 * up). Character i of line k is '.' when i < dots(k), else 'a' + (k+i) %
 * 26: line 0 is a lone ".", other lines start with "." or "..", so
 * dot-stuffing matters.
 */
function build_message(int $size): string
{
	$out = $size >= strlen(MESSAGE_HEAD) + 2 ? MESSAGE_HEAD : '';
	$rem = $size - strlen($out);
	for ($k = 0; $rem > 0; $k++) {
		$n = min($k === 0 ? 3 : 78, $rem);
		if ($rem - $n === 1)
			$n = $n > 2 ? $n - 1 : $n + 1;
		$d = dots($k);
		$line = '';
		for ($i = 0; $i < $n - 2; $i++)
			$line .= $i < $d ? '.' : chr(97 + ($k + $i) % 26);
		$out .= $line . "\r\n";
		$rem -= $n;
	}
	return $out;
}

/* What goes on the wire after 354: a '.' before every line that starts
 * with '.' (RFC 5321 4.5.2), then ".\r\n". $msg ends with CRLF. */
function dot_stuff(string $msg): string
{
	$out = $msg[0] === '.' ? '.' : '';
	return $out . str_replace("\r\n.", "\r\n..", $msg) . ".\r\n";
}

/* ------------------------------------------------------------------ */
/* The scheduler                                                        */

/*
 * Called inside a fiber: park it until $stream is readable ($mode 'r') or
 * writable ('w'), or throw SmtpError when $deadline (hrtime ns) passes.
 */
function wait_io(string $mode, $stream, int $deadline, string $what): void
{
	if (!Fiber::suspend([$mode, $stream, $deadline]))
		throw new SmtpError("$what: timed out");
}

/*
 * Run one fiber per callable until all have returned. A fiber suspends
 * with [mode, stream, deadline]; it is resumed with true when its stream
 * is ready, with false when its deadline passed. Each pass of the loop
 * runs every fiber that can run, then one stream_select over the streams
 * of all parked fibers (select(2): file descriptors must stay below 1024,
 * so C up to about 1000).
 */
function run_fibers(array $jobs): void
{
	$runnable = [];          /* [fiber, value to resume with] */
	foreach ($jobs as $job) {
		$f = new Fiber($job);
		$runnable[] = [$f, null];
	}
	$parked = [];            /* resource id => [fiber, mode, stream, deadline] */
	while ($runnable || $parked) {
		foreach ($runnable as [$f, $v]) {
			$req = $f->isStarted() ? $f->resume($v) : $f->start();
			if (!$f->isTerminated())
				$parked[get_resource_id($req[1])] = [$f, $req[0], $req[1], $req[2]];
		}
		$runnable = [];
		if (!$parked)
			break;
		$r = $w = [];
		$now = hrtime(true);
		$next = PHP_INT_MAX;
		foreach ($parked as $id => [$f, $mode, $s, $deadline]) {
			if ($deadline <= $now) {
				unset($parked[$id]);
				$runnable[] = [$f, false];
				continue;
			}
			$next = min($next, $deadline);
			if ($mode === 'r')
				$r[$id] = $s;
			else
				$w[$id] = $s;
		}
		if ($runnable)
			continue;
		$e = null;
		$us = intdiv($next - $now, 1000) + 1;
		$n = @stream_select($r, $w, $e, intdiv($us, 1000000), $us % 1000000);
		if ($n === false)
			throw new RuntimeException('stream_select: ' . (error_get_last()['message'] ?? 'failed'));
		foreach ($r + $w as $id => $s) {
			$runnable[] = [$parked[$id][0], true];
			unset($parked[$id]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* One SMTP connection, in lock-step, driven from inside a fiber        */

class Conn
{
	public $s;
	private string $buf = '';
	public int $deadline;

	public function __construct(string $server)
	{
		$this->deadline = hrtime(true) + MESSAGE_TIMEOUT_NS;
		$s = @stream_socket_client("tcp://$server", $errno, $errstr, 30,
			STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
		if ($s === false)
			throw new SmtpError("connect: $errstr (errno $errno)");
		stream_set_blocking($s, false);
		stream_set_read_buffer($s, 0);
		stream_set_write_buffer($s, 0);
		$this->s = $s;
		try {
			wait_io('w', $s, $this->deadline, 'connect');
			$this->check_connected();
			$this->expect('greeting', 220);
			$this->command(CMD_EHLO, 'EHLO', 250);
		} catch (Throwable $e) {
			fclose($s);
			throw $e;
		}
	}

	/* Writable after a non-blocking connect: connected, or failed. */
	private function check_connected(): void
	{
		if (function_exists('socket_import_stream')) {
			$sock = socket_import_stream($this->s);
			$err = $sock ? socket_get_option($sock, SOL_SOCKET, SO_ERROR) : 0;
			if ($err)
				throw new SmtpError('connect: ' . socket_strerror($err));
		} elseif (stream_socket_get_name($this->s, true) === false) {
			throw new SmtpError('connect: not connected');
		}
	}

	public function command(string $line, string $what, int $want): void
	{
		$len = strlen($line);
		for ($off = 0;;) {
			$n = @fwrite($this->s, $off ? substr($line, $off) : $line);
			if ($n === false)
				throw new SmtpError("$what: write: " . (error_get_last()['message'] ?? 'failed'));
			$off += $n;
			if ($off >= $len)
				break;
			wait_io('w', $this->s, $this->deadline, $what);
		}
		$this->expect($what, $want);
	}

	/* Read one whole reply ("250-" continues, "250 " ends); check its
	 * code. The reply is waited for before reading: in lock-step it is
	 * never there yet when the command has just been sent. */
	public function expect(string $what, int $want): void
	{
		for (;;) {
			while (($nl = strpos($this->buf, "\n")) === false) {
				if (strlen($this->buf) > MAX_LINE)
					throw new SmtpError("$what: reply line longer than " . MAX_LINE . " bytes");
				wait_io('r', $this->s, $this->deadline, $what);
				$data = @fread($this->s, 8192);
				if ($data === false || $data === '')
					throw new SmtpError("$what: connection closed");
				$this->buf .= $data;
			}
			$line = substr($this->buf, 0, $nl + 1);
			$this->buf = (string)substr($this->buf, $nl + 1);
			$sep = $line[3] ?? '';
			if (strlen($line) < 5 || !ctype_digit(substr($line, 0, 3)) ||
			    ($sep !== ' ' && $sep !== '-' && $sep !== "\r"))
				throw new SmtpError("$what: malformed reply " . json_encode(rtrim($line)));
			if ((int)substr($line, 0, 3) !== $want)
				throw new SmtpError("$what: " . rtrim($line));
			if ($sep !== '-')
				return;
		}
	}

	public function send(string $wire): void
	{
		$this->deadline = hrtime(true) + MESSAGE_TIMEOUT_NS;
		$this->command(CMD_MAIL, 'MAIL FROM', 250);
		$this->command(CMD_RCPT, 'RCPT TO', 250);
		$this->command(CMD_DATA, 'DATA', 354);
		$this->command($wire, 'end of data', 250);
	}

	/* The messages are accepted already; an error here changes nothing. */
	public function quit(): void
	{
		$this->deadline = hrtime(true) + MESSAGE_TIMEOUT_NS;
		try {
			$this->command(CMD_QUIT, 'QUIT', 221);
		} catch (SmtpError $e) {
		}
		$this->close();
	}

	public function close(): void
	{
		fclose($this->s);
	}
}

/* Accepted and failed messages of this process, and its first error. */
class Tally
{
	public int $accepted = 0;
	public int $failed = 0;
	public ?string $first_error = null;
	public int $first_error_ns = PHP_INT_MAX;

	public function fail(string $err): void
	{
		$this->failed++;
		if ($this->first_error === null) {
			$this->first_error = $err;
			$this->first_error_ns = hrtime(true);
		}
	}
}

/* One session: $count messages, one connection each or (--reuse) one for
 * all; a failed message drops its connection and the next reconnects. */
function session(array $o, string $wire, int $count, Tally $t): void
{
	$c = null;
	for ($i = 0; $i < $count; $i++) {
		try {
			$c ??= new Conn($o['addr']);
			$c->send($wire);
		} catch (SmtpError $e) {
			$t->fail($e->getMessage());
			if ($c !== null)
				$c->close();
			$c = null;
			continue;
		}
		$t->accepted++;
		if (!$o['reuse']) {
			$c->quit();
			$c = null;
		}
	}
	if ($c !== null)
		$c->quit();
}

/* Session i of C' = min(C, N) sends N/C' messages, one more when
 * i < N % C'. */
function split_sessions(int $emails, int $concurrency): array
{
	$s = min($emails, $concurrency);
	$counts = [];
	for ($i = 0; $i < $s; $i++)
		$counts[] = intdiv($emails, $s) + ($i < $emails % $s ? 1 : 0);
	return $counts;
}

function run_sessions(array $o, string $wire, array $counts, Tally $t): void
{
	$jobs = [];
	foreach ($counts as $n)
		$jobs[] = fn() => session($o, $wire, $n, $t);
	run_fibers($jobs);
}

/* php-fork: $procs children, child p running sessions p, p+procs, ...;
 * each sends its tally back through a pipe. Returns the summed tally. */
function run_forked(array $o, string $wire, array $counts, int $procs): Tally
{
	$pipes = $pids = [];
	for ($p = 0; $p < $procs; $p++) {
		$pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
		if ($pair === false)
			throw new RuntimeException('stream_socket_pair failed');
		$pid = pcntl_fork();
		if ($pid < 0)
			throw new RuntimeException('pcntl_fork: ' . pcntl_strerror(pcntl_get_last_error()));
		if ($pid === 0) {
			fclose($pair[0]);
			$t = new Tally();
			$mine = [];
			for ($i = $p; $i < count($counts); $i += $procs)
				$mine[] = $counts[$i];
			run_sessions($o, $wire, $mine, $t);
			fwrite($pair[1], serialize([$t->accepted, $t->failed, $t->first_error, $t->first_error_ns]));
			fclose($pair[1]);
			exit(0);
		}
		fclose($pair[1]);
		$pipes[] = $pair[0];
		$pids[] = $pid;
	}
	$t = new Tally();
	foreach ($pipes as $i => $pipe) {
		$r = unserialize((string)stream_get_contents($pipe));
		fclose($pipe);
		pcntl_waitpid($pids[$i], $status);
		if (!is_array($r)) {
			/* A child that died before reporting: its messages
			 * cannot be counted as accepted. */
			$lost = 0;
			for ($j = $i; $j < count($counts); $j += $procs)
				$lost += $counts[$j];
			$r = [0, $lost, "sending process $pids[$i] died (status $status)", hrtime(true)];
		}
		$t->accepted += $r[0];
		$t->failed += $r[1];
		if ($r[2] !== null && $r[3] < $t->first_error_ns) {
			$t->first_error = $r[2];
			$t->first_error_ns = $r[3];
		}
	}
	return $t;
}

/* ------------------------------------------------------------------ */
/* Flags, the machine, the output                                       */

function usage_error(string $msg): never
{
	fwrite(STDERR, "send.php: $msg\n" . USAGE);
	exit(2);
}

function parse_flags(array $argv): array
{
	$o = ['model' => null, 'emails' => null, 'concurrency' => null,
	      'reuse' => false, 'server' => '127.0.0.1:2525', 'size' => '1024'];
	for ($i = 1; $i < count($argv); $i++) {
		$arg = $argv[$i];
		if ($arg === '-h' || $arg === '--help') {
			echo USAGE;
			exit(0);
		}
		if (!preg_match('/^--([a-z]+)(?:=(.*))?$/s', $arg, $m) || !array_key_exists($m[1], $o))
			usage_error("unknown flag '$arg'");
		$name = $m[1];
		if ($name === 'reuse') {
			if (isset($m[2]))
				usage_error('--reuse takes no value');
			$o['reuse'] = true;
			continue;
		}
		if (isset($m[2])) {
			$o[$name] = $m[2];
		} elseif ($i + 1 < count($argv)) {
			$o[$name] = $argv[++$i];
		} else {
			usage_error("--$name needs a value");
		}
	}
	if ($o['model'] === null || !isset(MODELS[$o['model']]))
		usage_error('--model must be php-fibers or php-fork');
	$o['model'] = MODELS[$o['model']];
	foreach (['emails' => [1, MAX_EMAILS], 'concurrency' => [1, MAX_CONCURRENCY],
		  'size' => [MIN_SIZE, MAX_SIZE]] as $k => [$lo, $hi]) {
		if ($o[$k] === null)
			usage_error("--$k is required");
		if (!preg_match('/^[0-9]{1,10}$/', $o[$k]) || (int)$o[$k] < $lo || (int)$o[$k] > $hi)
			usage_error("--$k wants a whole number from $lo to $hi, got '{$o[$k]}'");
		$o[$k] = (int)$o[$k];
	}
	$o['addr'] = parse_server($o['server']);
	return $o;
}

/* HOST:PORT as threadlab send takes it: a numeric IPv4 address, [IPv6] or
 * localhost (127.0.0.1), and a port from 1 to 65535, so that no model
 * spends time on name lookups. Returns what to connect to. */
function parse_server(string $server): string
{
	$ok = preg_match('/^(?:\[([^\]]+)\]|([^:\[\]]+)):([0-9]{1,5})$/', $server, $m);
	$host = $ok ? ($m[1] !== '' ? $m[1] : $m[2]) : '';
	if ($host === 'localhost')
		$host = '127.0.0.1';
	$v6 = $ok && $m[1] !== '';
	$flag = $v6 ? FILTER_FLAG_IPV6 : FILTER_FLAG_IPV4;
	if (!$ok || filter_var($host, FILTER_VALIDATE_IP, $flag) === false ||
	    (int)$m[3] < 1 || (int)$m[3] > 65535)
		usage_error("--server wants HOST:PORT with a numeric IPv4 address, [IPv6] or localhost, and a port from 1 to 65535, got '$server'");
	return ($v6 ? "[$host]" : $host) . ":{$m[3]}";
}

/* The CPUs this process may run on (its affinity mask, as Go's NumCPU
 * and Python's sched_getaffinity count them). */
function usable_cpus(): int
{
	$status = @file_get_contents('/proc/self/status');
	if ($status === false || !preg_match('/^Cpus_allowed_list:\s*(\S+)/m', $status, $m))
		return 1;
	$n = 0;
	foreach (explode(',', $m[1]) as $range) {
		$ab = explode('-', $range);
		$n += count($ab) === 2 ? (int)$ab[1] - (int)$ab[0] + 1 : 1;
	}
	return max($n, 1);
}

function cpu_ns(int $who): int
{
	$ru = getrusage($who);
	return ($ru['ru_utime.tv_sec'] + $ru['ru_stime.tv_sec']) * 1000000000 +
		($ru['ru_utime.tv_usec'] + $ru['ru_stime.tv_usec']) * 1000;
}

/* Go's testing.prettyPrint: a metric as the benchmark line prints it. */
function pretty(float $x, string $unit): string
{
	$y = abs($x);
	$f = match (true) {
		$y == 0 || $y >= 999.95 => '%10.0f',
		$y >= 99.995 => '%12.1f',
		$y >= 9.9995 => '%13.2f',
		$y >= 0.99995 => '%14.3f',
		$y >= 0.099995 => '%15.4f',
		$y >= 0.0099995 => '%16.5f',
		$y >= 0.00099995 => '%17.6f',
		default => '%18.7f',
	};
	return sprintf($f, $x) . ' ' . $unit;
}

function main(array $argv): int
{
	ini_set('memory_limit', '-1');   /* --size may be up to 64 MiB */
	$o = parse_flags($argv);
	if ($o['model'] === 'php-fork' && !function_exists('pcntl_fork')) {
		fwrite(STDERR, "send.php: php-fork needs the pcntl extension (php -m)\n");
		return 2;
	}
	$wire = dot_stuff(build_message($o['size']));
	$counts = split_sessions($o['emails'], $o['concurrency']);
	$procs = $o['model'] === 'php-fork' ? min(usable_cpus(), count($counts)) : 1;
	if (intdiv(count($counts) + $procs - 1, $procs) > MAX_SESSIONS_PER_PROCESS) {
		fwrite(STDERR, "send.php: --concurrency {$o['concurrency']} is too many for {$o['model']}: " .
			"its processes wait with stream_select, which is select(2) and cannot watch " .
			"descriptors past 1023, so each process runs at most " . MAX_SESSIONS_PER_PROCESS .
			" sessions ($procs process" . ($procs > 1 ? "es" : "") . " here)\n");
		return 2;
	}

	$start = hrtime(true);
	$cpu0 = cpu_ns(0);
	if ($o['model'] === 'php-fibers') {
		$t = new Tally();
		run_sessions($o, $wire, $counts, $t);
		$threads = 1;
	} else {
		$t = run_forked($o, $wire, $counts, $procs);
		$threads = $procs + 1;
	}
	$wall = hrtime(true) - $start;
	$cpu = cpu_ns(0) - $cpu0 + ($o['model'] === 'php-fork' ? cpu_ns(1) : 0);

	$reuse = $o['reuse'] ? 'true' : 'false';
	echo "model: {$o['model']}\nemails: {$o['emails']}\nconcurrency: {$o['concurrency']}\n",
		"reuse: $reuse\nsize: {$o['size']}\nserver: {$o['server']}\nthreads: $threads\n";
	if ($o['model'] === 'php-fork')
		echo "processes: $threads\n";
	$name = "BenchmarkEmail/model={$o['model']}/conc={$o['concurrency']}/reuse=$reuse";
	if ($procs !== 1)
		$name .= "-$procs";
	/* Not accepted = not answered 250, whether or not a failure was
	 * recorded for it. */
	if ($t->accepted < $o['emails']) {
		$k = $o['emails'] - $t->accepted;
		echo "--- FAIL: $name: $k of {$o['emails']} messages not accepted ",
			"(first error: ", $t->first_error ?? 'unknown', ")\n";
		return 1;
	}
	$n = $o['emails'];
	printf("%s\t%8d\t%s\t%s\t%s\n", $name, $n, pretty($wall / $n, 'ns/op'),
		pretty($n / ($wall / 1e9), 'emails/s'), pretty($cpu / 1e3 / $n, 'cpu-us/email'));
	return 0;
}

exit(main($argv));
