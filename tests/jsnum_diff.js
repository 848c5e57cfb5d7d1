#!/usr/bin/env node
/*
 * jsnum_diff: differential test of daemon/jsnum.c against the real thing.
 * It owns only the comparison: the C side (test_jsnum --dump N SEED)
 * prints "HEX16 TEXT" lines; here each double is rebuilt from its bits and
 * JSON.stringify(x) must equal TEXT byte for byte.  Node is the oracle
 * because matching what JavaScript consumers parse and print is the whole
 * point of jsnum.
 *
 * usage: node tests/jsnum_diff.js PATH_TO_test_jsnum [N] [SEED]
 * Last line: "jsnum_diff: P passed, F failed"; exit status 1 when F > 0.
 */
'use strict';

const { spawnSync } = require('child_process');

const JSNUM_MAX = 32;
const SHOW = 10;

function usage() {
	process.stderr.write('usage: node tests/jsnum_diff.js PATH_TO_test_jsnum [N] [SEED]\n');
	process.exit(2);
}

const bin = process.argv[2];
if (!bin)
	usage();
const n = process.argv[3] === undefined ? 200000 : Number(process.argv[3]);
if (!Number.isSafeInteger(n) || n < 0)
	usage();
/* Fixed default seed so a failure reproduces; pass another to explore. */
const seed = process.argv[4] === undefined ? '0x6a736e756d' : process.argv[4];

const child = spawnSync(bin, ['--dump', String(n), seed], {
	encoding: 'latin1',
	maxBuffer: 64 * (n + 1) + (1 << 20),
	stdio: ['ignore', 'pipe', 'inherit'],
});
/* Still end with the summary line, so a harness grepping it sees failure. */
if (child.error)
	process.stderr.write(`jsnum_diff: cannot run ${bin}: ${child.error.message}\n`);

const view = new DataView(new ArrayBuffer(8));
let passed = 0;
let failed = 0;

function fail(msg) {
	if (failed < SHOW)
		process.stdout.write(`mismatch: ${msg}\n`);
	failed++;
}

const lines = child.error ? [] : child.stdout.split('\n');
if (lines.length && lines[lines.length - 1] === '')
	lines.pop();

for (const line of lines) {
	const m = /^([0-9a-f]{16}) (.*)$/.exec(line);
	if (!m) {
		fail(`malformed line ${JSON.stringify(line)}`);
		continue;
	}
	view.setBigUint64(0, BigInt('0x' + m[1]));
	const x = view.getFloat64(0);
	const want = JSON.stringify(x);
	const got = m[2];
	if (got !== want)
		fail(`${m[1]}: got ${got}, want ${want}`);
	else if (got.length > JSNUM_MAX)
		fail(`${m[1]}: ${got} is longer than JSNUM_MAX`);
	else
		passed++;
}

/* A crash or short dump must not pass as a smaller clean run. */
if (!child.error && (child.status !== 0 || child.signal))
	fail(`${bin} exited with ${child.signal || 'status ' + child.status}`);
if (lines.length < n) {
	const missing = n - lines.length;
	if (failed < SHOW)
		process.stdout.write(`mismatch: ${missing} of ${n} lines missing\n`);
	failed += missing;
} else if (lines.length > n) {
	fail(`${lines.length} lines for N=${n}`);
}

process.stdout.write(`jsnum_diff: ${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
