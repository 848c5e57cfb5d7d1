#!/usr/bin/env node
/*
 * schema_ref: an independent reference decoder for declared schemas
 * ([schema NAME] sections), the JavaScript side of test_schema_diff.py.
 *
 * usage: node tests/integration/schema_ref.js SPEC.json INPUT
 *
 * SPEC.json is the schema already parsed (test_schema_diff.py writes it
 * next to the INI it gives ingestd), so this file needs no INI parser:
 *   {"size": N, "order": "be"|"le",
 *    "fields": [{"name", "type", "offset", "order": "be"|"le"|null,
 *                "len": N|null, "bits": [LO, HI]|null, "scale": X|null,
 *                "div": X|null, "add": Y|null, "omit": bool,
 *                "json_string": bool}, ...],
 *    "checksum": {"alg", "offset", "over": [A, B], "order": ...}|null}
 * INPUT is whole frames of SIZE bytes back to back.  Each frame becomes
 * one line on stdout, the record `ingestd --decode` should print with
 * metadata off.  Values come from DataView and BigInt and are printed by
 * JSON.stringify, so this is what a JavaScript consumer would compute.
 * A frame whose checksum is wrong, or an input that is not whole frames,
 * is an error (exit 1): the test only sends frames that must pass.
 */
'use strict';

const fs = require('fs');

const WIDTH = {
	u8: 1, i8: 1, u16: 2, i16: 2, u24: 3, i24: 3, u32: 4, i32: 4,
	u64: 8, i64: 8, f32: 4, f64: 8,
};

function die(msg) {
	process.stderr.write('schema_ref: ' + msg + '\n');
	process.exit(1);
}

/* The integer at dv[off..off+w) in byte order `order`, as an unsigned BigInt. */
function readUnsigned(dv, off, w, le) {
	let v = 0n;
	for (let i = 0; i < w; i++) {
		const b = dv.getUint8(le ? off + w - 1 - i : off + i);
		v = (v << 8n) | BigInt(b);
	}
	return v;
}

/* Integer field: read, take bits, sign-extend a signed type.  BigInt. */
function intValue(dv, base, f, order) {
	const w = WIDTH[f.type];
	const le = order === 'le';
	const off = base + f.offset;
	let v;
	/* Read through DataView's own typed getters where they exist, so the
	 * byte order is DataView's, not a re-implementation of it. */
	switch (w) {
	case 1: v = BigInt(dv.getUint8(off)); break;
	case 2: v = BigInt(dv.getUint16(off, le)); break;
	case 3: {
		const hi = le ? dv.getUint8(off + 2) : dv.getUint8(off);
		const lo16 = le ? dv.getUint16(off, true) : dv.getUint16(off + 1, false);
		v = (BigInt(hi) << 16n) | BigInt(lo16);
		if (v !== readUnsigned(dv, off, 3, le))
			die('u24 read disagrees with itself');
		break;
	}
	case 4: v = BigInt(dv.getUint32(off, le)); break;
	case 8: v = dv.getBigUint64(off, le); break;
	default: die('bad width ' + w);
	}
	const signed = f.type[0] === 'i';
	let nbits = w * 8;
	if (f.bits) {
		const lo = f.bits[0], hi = f.bits[1];
		nbits = hi - lo + 1;
		v = (v >> BigInt(lo)) & ((1n << BigInt(nbits)) - 1n);
	}
	if (signed)
		v = BigInt.asIntN(nbits, v);
	return v;
}

/* Strict UTF-8 (RFC 3629): a well-formed sequence is kept, each byte that
 * does not start one becomes U+FFFD and decoding goes on at the next byte. */
function decodeUtf8(bytes) {
	let out = '';
	let i = 0;
	const n = bytes.length;
	const cont = (k) => k < n && (bytes[k] & 0xc0) === 0x80;
	while (i < n) {
		const b = bytes[i];
		if (b < 0x80) {
			out += String.fromCharCode(b);
			i += 1;
			continue;
		}
		let len = 0, cp = 0, min = 0;
		if (b >= 0xc2 && b <= 0xdf) { len = 2; cp = b & 0x1f; min = 0x80; }
		else if (b >= 0xe0 && b <= 0xef) { len = 3; cp = b & 0x0f; min = 0x800; }
		else if (b >= 0xf0 && b <= 0xf4) { len = 4; cp = b & 0x07; min = 0x10000; }
		let ok = len > 0;
		for (let k = 1; ok && k < len; k++) {
			if (!cont(i + k))
				ok = false;
			else
				cp = (cp << 6) | (bytes[i + k] & 0x3f);
		}
		if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
			ok = false;
		if (ok) {
			out += String.fromCodePoint(cp);
			i += len;
		} else {
			out += '\ufffd';
			i += 1;
		}
	}
	return out;
}

function hex(bytes) {
	let s = '';
	for (const b of bytes)
		s += (b < 16 ? '0' : '') + b.toString(16);
	return s;
}

function arith(raw, f) {
	let v = raw;
	if (f.scale !== null && f.scale !== undefined)
		v = v * f.scale;
	else if (f.div !== null && f.div !== undefined)
		v = v / f.div;
	if (f.add !== null && f.add !== undefined)
		v = v + f.add;
	return v;
}

function hasArith(f) {
	return [f.scale, f.div, f.add].some((x) => x !== null && x !== undefined);
}

function fieldText(dv, u8, base, spec, f) {
	const order = f.order || spec.order || 'be';
	const off = base + f.offset;
	switch (f.type) {
	case 'str': {
		const raw = u8.subarray(off, off + f.len);
		let end = raw.indexOf(0);
		if (end < 0)
			end = raw.length;
		return JSON.stringify(decodeUtf8(raw.subarray(0, end)));
	}
	case 'hex':
		return JSON.stringify(hex(u8.subarray(off, off + f.len)));
	case 'f32':
		return JSON.stringify(arith(dv.getFloat32(off, order === 'le'), f));
	case 'f64':
		return JSON.stringify(arith(dv.getFloat64(off, order === 'le'), f));
	}
	if (!(f.type in WIDTH))
		die('unknown type ' + f.type);
	const v = intValue(dv, base, f, order);
	const wide = WIDTH[f.type] === 8;
	if (hasArith(f))
		return JSON.stringify(arith(Number(v), f));
	if (wide)
		return f.json_string ? JSON.stringify(v.toString()) : v.toString();
	return JSON.stringify(Number(v));
}

/* ---- checksums, written from the catalogue definitions ---- */

function crcReflected(bytes, width, poly, init, xorout) {
	/* poly given reflected */
	let c = init;
	for (const b of bytes) {
		c ^= b;
		for (let k = 0; k < 8; k++)
			c = (c & 1) ? (c >>> 1) ^ poly : c >>> 1;
	}
	c = (c ^ xorout) >>> 0;
	return width === 32 ? c : c & ((1 << width) - 1);
}

function crcNormal(bytes, width, poly, init) {
	const top = 1 << (width - 1);
	const mask = (1 << width) - 1;
	let c = init;
	for (const b of bytes) {
		c ^= b << (width - 8);
		for (let k = 0; k < 8; k++)
			c = (c & top) ? ((c << 1) ^ poly) & mask : (c << 1) & mask;
	}
	return c;
}

const CHECKSUMS = {
	xor8: { w: 1, f: (b) => b.reduce((a, x) => a ^ x, 0) },
	sum8: { w: 1, f: (b) => b.reduce((a, x) => (a + x) & 0xff, 0) },
	crc8: { w: 1, f: (b) => crcNormal(b, 8, 0x07, 0) },
	'crc16-modbus': { w: 2, f: (b) => crcReflected(b, 16, 0xa001, 0xffff, 0) },
	'crc16-ccitt': { w: 2, f: (b) => crcNormal(b, 16, 0x1021, 0xffff) },
	crc32: { w: 4, f: (b) => crcReflected(b, 32, 0xedb88320, 0xffffffff, 0xffffffff) },
};

function selfCheck() {
	const check = Buffer.from('123456789');
	const want = {
		xor8: 0x31, sum8: 0xdd, crc8: 0xf4, 'crc16-modbus': 0x4b37,
		'crc16-ccitt': 0x29b1, crc32: 0xcbf43926,
	};
	for (const k of Object.keys(want))
		if (CHECKSUMS[k].f(check) !== want[k])
			die('checksum ' + k + ' fails its check value');
}

function verifyChecksum(dv, u8, base, spec) {
	const c = spec.checksum;
	const alg = CHECKSUMS[c.alg];
	if (!alg)
		die('unknown checksum ' + c.alg);
	const got = alg.f(u8.subarray(base + c.over[0], base + c.over[1] + 1));
	const le = (c.order || spec.order || 'be') === 'le';
	const off = base + c.offset;
	let stored;
	if (alg.w === 1) stored = dv.getUint8(off);
	else if (alg.w === 2) stored = dv.getUint16(off, le);
	else stored = dv.getUint32(off, le);
	if (stored !== got)
		die('frame at byte ' + base + ': checksum ' + stored.toString(16) + ', computed ' + got.toString(16));
}

function main() {
	if (process.argv.length !== 4) {
		process.stderr.write('usage: node schema_ref.js SPEC.json INPUT\n');
		process.exit(2);
	}
	selfCheck();
	const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
	const buf = fs.readFileSync(process.argv[3]);
	const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
	const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
	if (buf.length % spec.size !== 0)
		die('input of ' + buf.length + ' bytes is not whole frames of ' + spec.size);
	const lines = [];
	for (let base = 0; base < buf.length; base += spec.size) {
		if (spec.checksum)
			verifyChecksum(dv, u8, base, spec);
		const parts = [];
		for (const f of spec.fields) {
			if (f.omit)
				continue;
			parts.push(JSON.stringify(f.name) + ':' + fieldText(dv, u8, base, spec, f));
		}
		lines.push('{' + parts.join(',') + '}\n');
	}
	process.stdout.write(lines.join(''));
}

main();
