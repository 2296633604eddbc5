// llamacpp_tokenize.mjs MODEL.gguf TEXT OUT.bin -- llama.cpp's token ids for each line of
// TEXT (up to and including '\n', encoded alone, no special-token parsing), written like
// tools/tok_dump.c: per line a uint32 count, then the int32 ids (little-endian).
import fs from "node:fs";
import {createRequire} from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), "x.js"));
const {getLlama, LlamaLogLevel} = await import(require.resolve("node-llama-cpp"));
const [modelPath, textPath, outPath] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true,
                              skipDownload: true, progressLogs: false,
                              logLevel: LlamaLogLevel.error, maxThreads: 2});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const text = fs.readFileSync(textPath, "utf8");
const lines = text.match(/[^\n]*\n|[^\n]+$/g) || [];
const parts = [];
for (const line of lines) {
    const ids = model.tokenize(line, false);
    const b = Buffer.alloc(4 + 4 * ids.length);
    b.writeUInt32LE(ids.length, 0);
    ids.forEach((id, i) => b.writeInt32LE(id, 4 + 4 * i));
    parts.push(b);
}
fs.writeFileSync(outPath, Buffer.concat(parts));
console.log(`${lines.length} lines`);
await model.dispose();
await llama.dispose();
