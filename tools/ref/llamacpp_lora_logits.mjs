// Full next-token distributions from llama.cpp (npm node-llama-cpp, prebuilt CPU
// binary) for every position of a fixed token sequence, with LoRA adapters
// applied: ../shared/reference/llamacpp_logits.mjs plus --lora.  Same outputs
// (PREFIX.json + PREFIX.f32), so tools/ref/fixture.py pack reads them unchanged.
//
//   NODE_PATH=/tmp/llamacpp-ref-npm/node_modules \
//   node tools/ref/llamacpp_lora_logits.mjs MODEL.gguf OUT_PREFIX --lora A.lora.gguf [options]
//     --lora FILE         adapter GGUF (repeatable; none = the base model alone)
//     --lora-scale S      user scale of the preceding --lora (default 1; llama.cpp
//                         multiplies it by alpha/rank)
//     --tokens 1,2,3 | --tokens-file toks.json | --tokens-u32 toks.u32 | --random N [--seed S]
//     --kv f32|f16        KV-cache type (default f32; llama.cpp's default is f16)
//     --threads N         (default 2)
//     --batch N           batch size for prompt evaluation (default 512)
//     --ctx N             context size (default max(256, n_tokens + 8))
//     --one-by-one        feed the tokens one call at a time (decode path)
//     --fa                flash attention on (default off)
// Writes OUT_PREFIX.json (metadata + tokens + adapters) and OUT_PREFIX.f32
// (float32, n_tokens x n_vocab, row i = P(next token | tokens[0..i])).
//
// Adapters go through node-llama-cpp's documented context option
//   model.createContext({..., lora: {adapters: [{filePath, scale}]}})
// (LlamaContextOptions.lora in 3.21.1), which calls llama.cpp's
// llama_adapter_lora_init on the model and llama_set_adapter_lora on the context.
// The probabilities are softmax(raw logits) in float32, as in llamacpp_logits.mjs.

import fs from "node:fs";
import {createRequire} from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), "x.js"));
const {getLlama, LlamaLogLevel} = await import(require.resolve("node-llama-cpp"));

function parseArgs(argv) {
    const o = {kv: "f32", threads: 2, batch: 512, oneByOne: false, seed: 1, fa: false, lora: []};
    const pos = [];
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--tokens") o.tokens = argv[++i].split(",").map(Number);
        else if (a === "--tokens-file") o.tokens = JSON.parse(fs.readFileSync(argv[++i], "utf8"));
        else if (a === "--tokens-u32") {
            const b = fs.readFileSync(argv[++i]);
            if (b.length % 4) throw new Error(`${argv[i]}: size ${b.length} is not a multiple of 4`);
            o.tokens = Array.from({length: b.length / 4}, (_, k) => b.readUInt32LE(4 * k));
        }
        else if (a === "--random") o.random = Number(argv[++i]);
        else if (a === "--seed") o.seed = Number(argv[++i]);
        else if (a === "--kv") o.kv = argv[++i];
        else if (a === "--threads") o.threads = Number(argv[++i]);
        else if (a === "--batch") o.batch = Number(argv[++i]);
        else if (a === "--ctx") o.ctx = Number(argv[++i]);
        else if (a === "--one-by-one") o.oneByOne = true;
        else if (a === "--fa") o.fa = true;
        else if (a === "--lora") o.lora.push({filePath: path.resolve(argv[++i]), scale: 1});
        else if (a === "--lora-scale") {
            if (!o.lora.length) throw new Error("--lora-scale before any --lora");
            o.lora[o.lora.length - 1].scale = Number(argv[++i]);
        }
        else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
        else pos.push(a);
    }
    [o.model, o.out] = pos;
    if (!o.model || !o.out || pos.length > 2)
        throw new Error("usage: llamacpp_lora_logits.mjs MODEL.gguf OUT_PREFIX [--lora A.gguf [--lora-scale S]]... [options]");
    for (const l of o.lora) if (!fs.existsSync(l.filePath)) throw new Error(`${l.filePath}: no such file`);
    return o;
}

const o = parseArgs(process.argv.slice(2));

const llama = await getLlama({
    gpu: false,              // CPU only; do not probe CUDA/Vulkan
    build: "never",          // never compile llama.cpp from source
    usePrebuiltBinaries: true,
    skipDownload: true,      // never download llama.cpp source
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
    maxThreads: o.threads,
});
const model = await llama.loadModel({modelPath: o.model, gpuLayers: 0});
const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;

let tokens = o.tokens;
if (!tokens) {
    const n = o.random ?? 64;
    let s = o.seed >>> 0;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const hi = Math.min(nVocab, 256);  // byte tokens
    tokens = Array.from({length: n}, () => Math.floor(rnd() * hi));
}
tokens.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= nVocab) throw new Error(`token ${i} = ${t} not in 0..${nVocab - 1}`);
});

const ctx = await model.createContext({
    contextSize: o.ctx ?? Math.max(256, tokens.length + 8),
    batchSize: o.batch,
    threads: o.threads,
    flashAttention: o.fa,
    experimentalKvCacheKeyType: o.kv.toUpperCase(),
    experimentalKvCacheValueType: o.kv.toUpperCase(),
    ...(o.lora.length ? {lora: {adapters: o.lora}} : {}),
});
const seq = ctx.getSequence();

const out = new Float32Array(tokens.length * nVocab);
const req = {generateNext: {probabilities: true}};
let results;
const t0 = performance.now();
if (o.oneByOne) {
    results = [];
    for (const t of tokens) results.push(...(await seq.controlledEvaluate([[t, req]])));
} else {
    results = await seq.controlledEvaluate(tokens.map((t) => [t, req]));
}
const ms = performance.now() - t0;
results.forEach((r, i) => {
    const probs = r?.next?.probabilities;
    if (!probs || probs.size !== nVocab) throw new Error(`position ${i}: got ${probs?.size} probabilities, want ${nVocab}`);
    for (const [tok, p] of probs) out[i * nVocab + tok] = p;
});

const pkg = (name) => {
    try {
        const dir = path.dirname(require.resolve(name)).split(path.sep + "node_modules" + path.sep)[0];
        return JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json"), "utf8")).version;
    } catch { return null; }
};
const adapters = o.lora.map((l) => ({file: path.basename(l.filePath), bytes: fs.statSync(l.filePath).size, scale: l.scale}));
const meta = {
    model: path.basename(o.model),
    n_vocab: nVocab,
    tokens,
    lora: adapters,
    kv_type: o.kv,
    threads: o.threads,
    one_by_one: o.oneByOne,
    flash_attention: o.fa,
    eval_ms: ms,
    node_llama_cpp: pkg("node-llama-cpp"),
    prebuilt: pkg("@node-llama-cpp/linux-x64"),
    llama_cpp_release: llama.llamaCppRelease,
    note: `node-llama-cpp ${pkg("node-llama-cpp")}, kv=${o.kv}${o.fa ? ", flash-attn" : ""}, ` +
        `${o.oneByOne ? "one token per call" : "one batch"}, ` +
        (adapters.length ? `lora ${adapters.map((l) => `${l.file}@${l.scale}`).join(",")}` : "no lora"),
};
fs.writeFileSync(o.out + ".json", JSON.stringify(meta));
fs.writeFileSync(o.out + ".f32", Buffer.from(out.buffer));
console.log(`wrote ${o.out}.json/.f32: ${tokens.length} positions x ${nVocab} probs in ${ms.toFixed(1)} ms ` +
    `(kv=${o.kv}, ${adapters.length ? "lora " + adapters.map((l) => `${l.file}@${l.scale}`).join(",") : "no lora"})`);
await ctx.dispose();
await model.dispose();
await llama.dispose();
